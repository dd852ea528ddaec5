#include <chrono>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"

using namespace taskpool::test;
using nlohmann::json;

TEST_CASE("pipelining.ten_thousand_requests_in_one_write" * doctest::timeout(120)) {
    DaemonProcess d;
    LineClient c(d.port());
    constexpr int n = 10000;
    std::string burst;
    for (int i = 0; i < n; ++i) {
        json req = i % 2 == 0 ? json{{"op", "submit"}, {"id", i}, {"task", "echo"}, {"args", i}}
                              : json{{"op", "ping"}, {"id", i}};
        burst += req.dump() + "\n";
    }
    c.send_raw(burst);
    for (int i = 0; i < n; ++i) {
        auto r = c.read_reply(std::chrono::seconds(60));
        REQUIRE(r["id"] == i);  // requests that do not wait are answered in order
        REQUIRE(r["ok"] == true);
    }
    auto stats = c.request({{"op", "stats"}});
    CHECK(stats["jobs"]["submitted"] == n / 2);
}

TEST_CASE("pipelining.a_waiting_submit_does_not_delay_a_later_ping" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    c.send_raw(json{{"op", "submit"},
                    {"id", "slow"},
                    {"task", "sleep"},
                    {"args", {{"seconds", 2}}},
                    {"wait", true}}
                   .dump() +
               "\n" + json{{"op", "ping"}, {"id", "fast"}}.dump() + "\n");
    auto start = std::chrono::steady_clock::now();
    auto first = c.read_reply();
    CHECK(first["id"] == "fast");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    auto second = c.read_reply();
    CHECK(second["id"] == "slow");
    CHECK(second["job"]["state"] == "succeeded");
}

TEST_CASE("pipelining.get_wait_runs_out_with_the_state_as_it_is" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto id =
        c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 5}}}})["job"]["id"];
    auto start = std::chrono::steady_clock::now();
    auto r = c.request({{"op", "get"}, {"job", id}, {"wait", 0.3}});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(r["job"]["state"] == "running");
    CHECK(took >= std::chrono::milliseconds(250));
    CHECK(took < std::chrono::seconds(3));
}
