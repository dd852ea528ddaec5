// Priorities, the bounded queue, timeouts, retries and idempotency keys.
#include <chrono>
#include <thread>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

const json one_thread = {{"thread_pool", {{"size", 1}}}};

/// Occupies the only thread until the returned job is cancelled.
std::string block_the_thread(LineClient& c) {
    std::string id =
        c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 60}}}})["job"]["id"];
    REQUIRE(wait_for([&] {
        return c.request({{"op", "get"}, {"job", id}})["job"]["state"] == "running";
    }));
    return id;
}

}  // namespace

TEST_CASE("scheduling.priority_order_with_fifo_among_equals" * doctest::timeout(30)) {
    DaemonProcess d({.config = one_thread});
    LineClient c(d.port());
    auto blocker = block_the_thread(c);
    std::vector<std::pair<int, std::string>> submitted = {
        {0, "a"}, {5, "b"}, {0, "c"}, {-5, "d"}, {5, "e"}, {100, "f"}, {0, "g"}, {-100, "h"}};
    for (const auto& [priority, name] : submitted) {
        c.request({{"op", "submit"}, {"task", "echo"}, {"args", name}, {"priority", priority}});
    }
    LineClient watcher(d.port());
    watcher.request({{"op", "subscribe"}});
    c.request({{"op", "cancel"}, {"job", blocker}});
    std::vector<std::string> started;
    while (started.size() < submitted.size()) {
        auto e = watcher.read_json();
        if (e["event"] == "job.started") {
            started.push_back(e["job"]["args"]);
        }
    }
    CHECK(started == std::vector<std::string>{"f", "b", "e", "a", "c", "g", "d", "h"});
}

TEST_CASE("scheduling.queue_full_and_block_s" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 1}}}, {"queue", {{"max_size", 2}}}}});
    LineClient c(d.port());
    auto blocker = block_the_thread(c);
    auto first = c.request({{"op", "submit"}, {"task", "echo"}, {"args", 1}})["job"]["id"];
    c.request({{"op", "submit"}, {"task", "echo"}, {"args", 2}});
    CHECK(c.request({{"op", "submit"}, {"task", "echo"}})["error"]["code"] == "queue_full");

    // block_s that runs out: queue_full after about that long.
    auto start = std::chrono::steady_clock::now();
    auto timed_out = c.request({{"op", "submit"}, {"task", "echo"}, {"block_s", 0.3}});
    CHECK(timed_out["error"]["code"] == "queue_full");
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(250));

    // block_s that gets room: accepted once a queued job leaves the queue.
    c.send({{"op", "submit"}, {"id", "blocked"}, {"task", "echo"}, {"args", 3}, {"block_s", 10}});
    CHECK(c.request({{"op", "ping"}, {"id", "p"}})["id"] == "p");  // not delayed by it
    c.send({{"op", "cancel"}, {"id", "c"}, {"job", first}});
    auto a = c.read_reply();
    auto b = c.read_reply();
    auto blocked = a["id"] == "blocked" ? a : b;
    CHECK(blocked["ok"] == true);
    CHECK(blocked["job"]["state"] == "queued");
    c.request({{"op", "cancel"}, {"job", blocker}});
    CHECK(c.request(
              {{"op", "get"}, {"job", blocked["job"]["id"]}, {"wait", 10}})["job"]["result"] == 3);
}

TEST_CASE("scheduling.timeout_stops_a_running_job" * doctest::timeout(30)) {
    DaemonProcess d({.config = one_thread});
    LineClient c(d.port());
    auto start = std::chrono::steady_clock::now();
    auto r = c.request({{"op", "submit"},
                        {"task", "sleep"},
                        {"args", {{"seconds", 30}}},
                        {"timeout_s", 0.5},
                        {"wait", true}});
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(r["job"]["state"] == "failed");
    CHECK(r["job"]["error"]["code"] == "timeout");
    CHECK(took < std::chrono::seconds(2));
    // The thread was freed: the next job runs at once.
    auto next = c.request({{"op", "submit"}, {"task", "echo"}, {"args", 1}, {"wait", 5}});
    CHECK(next["job"]["state"] == "succeeded");

    auto fib = c.request({{"op", "submit"},
                          {"task", "fib"},
                          {"args", {{"n", 45}}},
                          {"timeout_s", 0.3},
                          {"wait", 10}});
    CHECK(fib["job"]["error"]["code"] == "timeout");
    CHECK(c.request({{"op", "submit"}, {"task", "echo"}, {"wait", 5}})["job"]["state"] ==
          "succeeded");
}

TEST_CASE("scheduling.default_timeout_from_the_config" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"jobs", {{"default_timeout_s", 0.3}}}}});
    LineClient c(d.port());
    auto r =
        c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 30}}}, {"wait", 10}});
    CHECK(r["job"]["error"]["code"] == "timeout");
}

TEST_CASE("scheduling.retries_count_attempts" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto r = c.request({{"op", "submit"}, {"task", "fail"}, {"retries", 2}, {"wait", true}});
    CHECK(r["job"]["state"] == "failed");
    CHECK(r["job"]["attempts"] == 3);
    auto t = c.request({{"op", "submit"},
                        {"task", "sleep"},
                        {"args", {{"seconds", 5}}},
                        {"timeout_s", 0.2},
                        {"retries", 1},
                        {"wait", 10}});
    CHECK(t["job"]["error"]["code"] == "timeout");
    CHECK(t["job"]["attempts"] == 2);
    auto ok = c.request({{"op", "submit"}, {"task", "echo"}, {"retries", 3}, {"wait", true}});
    CHECK(ok["job"]["attempts"] == 1);
}

TEST_CASE("scheduling.idempotency_key_returns_the_first_job" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto first = c.request(
        {{"op", "submit"}, {"task", "echo"}, {"args", 1}, {"key", "order-17"}, {"wait", true}});
    auto second = c.request({{"op", "submit"}, {"task", "echo"}, {"args", 2}, {"key", "order-17"}});
    CHECK(second["job"]["id"] == first["job"]["id"]);
    CHECK(second["job"]["result"] == 1);
    CHECK(c.request({{"op", "stats"}})["jobs"]["submitted"] == 1);
    auto other = c.request({{"op", "submit"}, {"task", "echo"}, {"key", "order-18"}});
    CHECK(other["job"]["id"] != first["job"]["id"]);
}

TEST_CASE("scheduling.finished_jobs_expire_after_result_ttl" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"jobs", {{"result_ttl_s", 0.3}}}}});
    LineClient c(d.port());
    auto id = c.request({{"op", "submit"}, {"task", "echo"}, {"wait", true}})["job"]["id"];
    CHECK(c.request({{"op", "get"}, {"job", id}})["ok"] == true);
    CHECK(wait_for([&] {
        return c.request({{"op", "get"}, {"job", id}})["error"]["code"] == "no_such_job";
    }));
}

TEST_CASE("scheduling.max_retained_keeps_the_newest" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"jobs", {{"max_retained", 3}}}}});
    LineClient c(d.port());
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
        ids.push_back(c.request(
            {{"op", "submit"}, {"task", "echo"}, {"args", i}, {"wait", true}})["job"]["id"]);
    }
    CHECK(wait_for([&] { return c.request({{"op", "list"}})["jobs"].size() == 3; }));
    CHECK(c.request({{"op", "get"}, {"job", ids[0]}})["error"]["code"] == "no_such_job");
    CHECK(c.request({{"op", "get"}, {"job", ids[5]}})["ok"] == true);
}

TEST_CASE("scheduling.bind_cancels_when_the_connection_closes" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient observer(d.port());
    std::string bound;
    std::string free;
    {
        LineClient c(d.port());
        bound = c.request({{"op", "submit"},
                           {"task", "sleep"},
                           {"args", {{"seconds", 30}}},
                           {"bind", true}})["job"]["id"];
        free = c.request(
            {{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 30}}}})["job"]["id"];
    }
    CHECK(wait_for([&] {
        return observer.request({{"op", "get"}, {"job", bound}})["job"]["state"] == "cancelled";
    }));
    CHECK(observer.request({{"op", "get"}, {"job", free}})["job"]["state"] != "cancelled");
}
