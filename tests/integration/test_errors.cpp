// Every request error code of PROTOCOL.md section 7 that this daemon can produce,
// each followed by a working request (on the same connection where it stays open).
//
// Not here: `unavailable` needs the journal (store.path), and `internal` needs a bug.
#include <csignal>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

void check_error_then_ping(LineClient& c, const json& request, const std::string& code) {
    auto r = c.request(request);
    CHECK_MESSAGE(r["ok"] == false, request.dump());
    CHECK_MESSAGE(r["error"]["code"] == code, request.dump() << " -> " << r.dump());
    CHECK_FALSE(r["error"]["message"].get<std::string>().empty());
    if (request.contains("id")) {
        CHECK(r["id"] == request["id"]);
    }
    CHECK(c.request({{"op", "ping"}, {"id", "after"}})["pong"] == true);
}

}  // namespace

TEST_CASE("errors.each_code_then_a_working_request" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 1}}}, {"queue", {{"max_size", 1}}}}});
    LineClient c(d.port());

    check_error_then_ping(c, {{"op", "submit"}, {"id", 1}, {"task", 5}}, "bad_request");
    check_error_then_ping(c, {{"op", "submit"}, {"id", 2}, {"task", "echo"}, {"nope", 1}},
                          "bad_request");
    check_error_then_ping(
        c, {{"op", "submit"}, {"id", 3}, {"task", "sleep"}, {"args", {{"seconds", "x"}}}},
        "bad_request");
    check_error_then_ping(c, {{"op", "teleport"}, {"id", 4}}, "unknown_op");
    check_error_then_ping(c, {{"op", "submit"}, {"id", 5}, {"task", "nope"}}, "no_such_task");
    check_error_then_ping(c, {{"op", "get"}, {"id", 6}, {"job", "j-nope"}}, "no_such_job");
    check_error_then_ping(c, {{"op", "cancel"}, {"id", 7}, {"job", "j-nope"}}, "no_such_job");

    auto done = c.request({{"op", "submit"}, {"task", "echo"}, {"wait", true}})["job"]["id"];
    check_error_then_ping(c, {{"op", "cancel"}, {"id", 8}, {"job", done}}, "not_cancellable");

    // One running, one queued (max_size 1): the next is refused.
    c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 60}}}});
    REQUIRE(wait_for([&] { return c.request({{"op", "stats"}})["jobs"]["running"] == 1; }));
    c.request({{"op", "submit"}, {"task", "echo"}});
    check_error_then_ping(c, {{"op", "submit"}, {"id", 9}, {"task", "echo"}}, "queue_full");

    LineClient stopper(d.port());
    stopper.request({{"op", "shutdown"}, {"mode", "drain"}});
    REQUIRE(wait_for([&] {
        return c.request({{"op", "submit"}, {"task", "echo"}})["error"]["code"] == "shutting_down";
    }));
    check_error_then_ping(c, {{"op", "submit"}, {"id", 10}, {"task", "echo"}}, "shutting_down");
    d.signal(SIGINT);
}

TEST_CASE("errors.message_too_large_closes_the_connection" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"limits", {{"max_message_bytes", 4096}}}}});
    LineClient c(d.port());
    c.send_raw(R"({"op":"submit","task":"echo","args":")" + std::string(5000, 'x') + "\"}\n");
    auto r = c.read_json();
    CHECK(r["error"]["code"] == "message_too_large");
    CHECK(r["id"].is_null());
    CHECK(c.closed_by_peer());
    LineClient next(d.port());
    CHECK(next.request({{"op", "ping"}})["pong"] == true);
}

TEST_CASE("errors.too_many_connections" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"limits", {{"max_connections", 2}}}}});
    LineClient a(d.port());
    LineClient b(d.port());
    CHECK(a.request({{"op", "ping"}})["pong"] == true);
    CHECK(b.request({{"op", "ping"}})["pong"] == true);
    LineClient refused(d.port());
    auto r = refused.read_json();
    CHECK(r["error"]["code"] == "too_many_connections");
    CHECK(refused.closed_by_peer());
    CHECK(a.request({{"op", "ping"}})["pong"] == true);
}

TEST_CASE("errors.unauthorized_closes_then_the_right_token_works" * doctest::timeout(30)) {
    DaemonProcess d({.env = {{"TASKPOOL_TOKEN", "s3cret"}}});
    {
        LineClient c(d.port());
        auto r = c.request({{"op", "ping"}, {"id", 1}});
        CHECK(r["error"]["code"] == "unauthorized");
        CHECK(c.closed_by_peer());
    }
    {
        LineClient c(d.port());
        auto r = c.request({{"op", "hello"}, {"token", "wrong"}});
        CHECK(r["error"]["code"] == "unauthorized");
        CHECK(c.closed_by_peer());
    }
    LineClient c(d.port());
    auto hello = c.request({{"op", "hello"}, {"token", "s3cret"}});
    CHECK(hello["ok"] == true);
    CHECK(c.request(
              {{"op", "submit"}, {"task", "echo"}, {"args", 1}, {"wait", true}})["job"]["result"] ==
          1);
}
