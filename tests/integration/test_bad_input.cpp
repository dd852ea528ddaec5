// Hostile and broken lines get a clear error; the daemon keeps serving.
#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

void check_bad_request_then_ping(LineClient& c, const std::string& line) {
    c.send_raw(line + "\n");
    auto r = c.read_json();
    CHECK_MESSAGE(r["error"]["code"] == "bad_request", line.substr(0, 80));
    CHECK(r["id"].is_null());
    CHECK(c.request({{"op", "ping"}})["pong"] == true);
}

}  // namespace

TEST_CASE("bad_input.broken_lines_keep_the_connection" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    check_bad_request_then_ping(c, "{\"op\":\"ping\"");                       // malformed
    check_bad_request_then_ping(c, "hello there");                            // not JSON
    check_bad_request_then_ping(c, "[{\"op\":\"ping\"}]");                    // not an object
    check_bad_request_then_ping(c, "42");                                     // not an object
    check_bad_request_then_ping(c, "{\"op\":\"ping\",\"id\":\"\xc3\x28\"}");  // invalid UTF-8
    check_bad_request_then_ping(c, "\xff\xfe\xfd");                           // binary
    check_bad_request_then_ping(
        c, "{\"op\":\"ping\",\"id\":1e999}");  // past double (found by fuzzing)
    check_bad_request_then_ping(c, std::string(100000, '[') + std::string(100000, ']'));
    check_bad_request_then_ping(c, "{\"op\":\"submit\",\"task\":\"echo\",\"args\":" +
                                       std::string(100000, '[') + std::string(100000, ']') + "}");
    c.send_raw("\r\n\n   \n");  // blank lines are ignored
    CHECK(c.request({{"op", "ping"}, {"id", 1}})["id"] == 1);
}

TEST_CASE("bad_input.oversized_line_then_the_daemon_serves_others" * doctest::timeout(30)) {
    DaemonProcess d;
    {
        LineClient c(d.port());
        c.send_raw(std::string(2 * 1024 * 1024, 'x'));
        auto r = c.read_json();
        CHECK(r["error"]["code"] == "message_too_large");
        CHECK(c.closed_by_peer());
    }
    LineClient c(d.port());
    CHECK(c.request({{"op", "submit"},
                     {"task", "echo"},
                     {"args", "still here"},
                     {"wait", true}})["job"]["result"] == "still here");
}

TEST_CASE("bad_input.deep_args_within_the_limit_are_echoed" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    json args = json::array();
    for (int i = 0; i < 60; ++i) {
        args = json::array({args});
    }
    auto r = c.request({{"op", "submit"}, {"task", "echo"}, {"args", args}, {"wait", true}});
    CHECK(r["job"]["result"] == args);
}
