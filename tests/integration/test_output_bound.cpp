// limits.max_output_buffer_bytes: a client that reads gets every reply, in full or
// as an error that says why; one that does not is paused, and cut if events pile up.
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// `n` echo jobs whose args are `size` bytes each, finished.
void fill_jobs(LineClient& c, int n, std::size_t size) {
    json items = json::array();
    for (int i = 0; i < n; ++i) {
        items.push_back(std::string(size, 'a'));
    }
    auto reply =
        c.request({{"op", "map"}, {"task", "echo"}, {"items", items}, {"wait", true}}, 30s);
    REQUIRE_MESSAGE(reply["ok"] == true, reply.dump());
}

}  // namespace

TEST_CASE("output.a_reply_over_twice_the_bound_is_an_error_and_the_connection_stays" *
          doctest::timeout(60)) {
    DaemonProcess d({.config = {{"limits", {{"max_output_buffer_bytes", 65536}}}}});
    LineClient c(d.port());
    for (int i = 0; i < 10; ++i) {
        fill_jobs(c, 100, 100);
    }
    auto reply = c.request({{"op", "list"}, {"id", "big"}, {"limit", 1000}});
    CHECK(reply["id"] == "big");
    CHECK(reply["error"]["code"] == "message_too_large");
    CHECK(reply["error"]["message"].get<std::string>().find("131072") != std::string::npos);
    CHECK(c.request({{"op", "list"}, {"limit", 100}})["jobs"].size() == 100);  // still open

    LineClient http(d.port());
    http.send_raw("GET /v1/jobs?limit=1000 HTTP/1.1\r\nHost: t\r\n\r\n");
    auto too_large = http.read_http_response();
    REQUIRE(too_large);
    CHECK(too_large->status == 413);
    CHECK(json::parse(too_large->body)["error"]["code"] == "message_too_large");
    http.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    auto health = http.read_http_response();
    REQUIRE(health);
    CHECK(health->status == 200);
}

TEST_CASE("output.lines_that_each_fit_all_reach_a_client_that_reads" * doctest::timeout(60)) {
    // job.started, job.finished and the reply are each under twice the bound, and
    // together over it.
    DaemonProcess d(
        {.config = {
             {"limits", {{"max_output_buffer_bytes", 65536}, {"max_message_bytes", 1 << 20}}}}});
    LineClient c(d.port());
    std::string args(50000, 'x');
    c.send({{"op", "submit"},
            {"id", 1},
            {"task", "echo"},
            {"args", args},
            {"notify", true},
            {"wait", true}});
    int events = 0;
    json reply;
    for (int lines = 0; lines < 3; ++lines) {
        auto line = c.read_json(20s);
        if (line.contains("event")) {
            ++events;
        } else {
            reply = line;
        }
    }
    CHECK(events == 2);
    CHECK(reply["job"]["result"] == args);
    CHECK(c.request({{"op", "ping"}})["pong"] == true);
}

TEST_CASE("output.pipelined_requests_wait_for_the_output_to_drain" * doctest::timeout(120)) {
    DaemonProcess d;
    LineClient c(d.port());
    fill_jobs(c, 50, 600);  // a list of 50 is about 78 KB
    std::string burst;
    for (int i = 0; i < 500; ++i) {
        burst += json{{"op", "list"}, {"id", i}, {"limit", 50}}.dump() + "\n";
    }
    c.send_raw(burst);  // 39 MB of replies: four times the default bound and more
    for (int i = 0; i < 500; ++i) {
        auto reply = c.read_json(30s);
        REQUIRE(reply["id"] == i);
        REQUIRE(reply["jobs"].size() == 50);
    }

    LineClient http(d.port());
    std::string requests;
    for (int i = 0; i < 500; ++i) {
        requests += "GET /v1/jobs?limit=50 HTTP/1.1\r\nHost: t\r\n\r\n";
    }
    http.send_raw(requests);
    for (int i = 0; i < 500; ++i) {
        auto response = http.read_http_response(30s);
        REQUIRE(response);
        REQUIRE(response->status == 200);
    }
}

TEST_CASE("output.a_client_that_reads_late_gets_every_reply_answered_later" *
          doctest::timeout(60)) {
    // In cluster mode a list is answered once Redis has replied, after the requests
    // behind it were read: the reader must stop for replies whose size it does not
    // know yet, and must not cut a client for the replies it let in.
    DaemonProcess d({.config = {{"limits", {{"max_output_buffer_bytes", 65536}}}}});
    LineClient c(d.port());
    fill_jobs(c, 50, 600);
    std::string burst;
    for (int i = 0; i < 100; ++i) {  // a ping, answered at once, behind each list
        burst += json{{"op", "list"}, {"id", i}, {"limit", 50}}.dump() + "\n";
        burst += json{{"op", "ping"}, {"id", -i - 1}}.dump() + "\n";
    }
    c.send_raw(burst);                // 7.8 MB of replies, against a bound of 64 KB
    std::this_thread::sleep_for(1s);  // the replies come while nothing reads them
    for (int i = 0; i < 100; ++i) {
        auto reply = c.read_json(30s);
        REQUIRE(reply["id"] == i);
        REQUIRE(reply["jobs"].size() == 50);
        REQUIRE(c.read_json(30s)["id"] == -i - 1);
    }
}
