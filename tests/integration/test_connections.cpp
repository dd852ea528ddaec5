// Many connections, idle and slow ones.
#include <chrono>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <algorithm>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/proc.hpp"
#include "../support/request_ok.hpp"
#include "../support/sanitizers.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;

TEST_CASE("connections.two_hundred_at_once" * doctest::timeout(60)) {
    DaemonProcess d;
    std::vector<std::unique_ptr<LineClient>> clients;
    for (int i = 0; i < 200; ++i) {
        clients.push_back(std::make_unique<LineClient>(d.port()));
    }
    for (int i = 0; i < 200; ++i) {
        clients[static_cast<std::size_t>(i)]->send(
            {{"op", "submit"}, {"id", i}, {"task", "echo"}, {"args", i}, {"wait", true}});
    }
    for (int i = 0; i < 200; ++i) {
        auto r = clients[static_cast<std::size_t>(i)]->read_reply(std::chrono::seconds(30));
        CHECK(r["id"] == i);
        CHECK(r["job"]["result"] == i);
    }
    CHECK(clients[0]->request({{"op", "stats"}})["connections"] == 200);
}

TEST_CASE("connections.a_thousand_at_once" * doctest::timeout(120)) {
    // This test's own descriptors: a thousand sockets and some.
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4096);
    ::setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 1100) {
        MESSAGE("skipped: this process may open only " << limit.rlim_cur << " files");
        return;
    }
    DaemonProcess d;  // starts with a soft limit of 1024 and raises it itself
    std::vector<std::unique_ptr<LineClient>> clients;
    for (int i = 0; i < 1000; ++i) {
        clients.push_back(std::make_unique<LineClient>(d.port()));
    }
    // Half speak NDJSON, half HTTP, all at once.
    for (std::size_t i = 0; i < clients.size(); ++i) {
        clients[i]->send_raw(i % 2 == 0 ? "{\"op\":\"ping\"}\n"
                                        : "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for (std::size_t i = 0; i < clients.size(); ++i) {
        if (i % 2 == 0) {
            CHECK(clients[i]->read_reply(std::chrono::seconds(30))["pong"] == true);
        } else {
            auto r = clients[i]->read_http_response(std::chrono::seconds(30));
            REQUIRE(r);
            CHECK(r->status == 200);
        }
    }
    CHECK(clients[0]->request({{"op", "stats"}})["connections"] == 1000);
}

TEST_CASE("connections.out_of_descriptors_the_accept_loop_waits" * doctest::timeout(60)) {
    DaemonProcess d({.open_files = 64});
    std::vector<std::unique_ptr<LineClient>> clients;
    for (int i = 0; i < 100; ++i) {
        // The kernel completes the handshake; the daemon cannot accept them all.
        clients.push_back(std::make_unique<LineClient>(d.port()));
    }
    REQUIRE(wait_for([&] { return d.log().find("accept failed") != std::string::npos; }));
    auto before = cpu_seconds(d.pid());
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto used = cpu_seconds(d.pid()) - before;
    MESSAGE("CPU used in one second out of descriptors: " << used << " s");
    CHECK(used < 0.3);  // a spinning accept loop takes the whole second
    // It retried every 100 ms, and said so once: the log is not flooded.
    auto log = d.log();
    std::size_t lines = 0;
    for (auto at = log.find("accept failed"); at != std::string::npos;
         at = log.find("accept failed", at + 1)) {
        ++lines;
    }
    CHECK(lines == 1);
    clients.clear();
    LineClient late(d.port());
    CHECK(late.request({{"op", "ping"}}, std::chrono::seconds(10))["pong"] == true);
}

TEST_CASE("connections.a_subscriber_that_never_reads_while_20000_jobs_run" *
          doctest::timeout(180)) {
    DaemonProcess d;
    LineClient deaf(d.port());
    CHECK(deaf.request({{"op", "subscribe"}})["ok"] == true);
    LineClient probe(d.port());
    CHECK(probe.request({{"op", "ping"}})["pong"] == true);
    auto rss_before = rss_bytes(d.pid());

    LineClient submitter(d.port());
    json items = json::array();
    for (int i = 0; i < 20000; ++i) {
        items.push_back(std::string(20, 'x'));  // within limits.max_message_bytes
    }
    submitter.send({{"op", "map"}, {"task", "echo"}, {"items", items}, {"wait", true}});
    std::vector<double> pings_ms;
    std::size_t rss_peak = 0;
    std::optional<json> done;
    while (!done) {
        auto start = std::chrono::steady_clock::now();
        CHECK(probe.request({{"op", "ping"}})["pong"] == true);
        pings_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
        rss_peak = std::max(rss_peak, rss_bytes(d.pid()));
        if (auto line = submitter.read_line(std::chrono::milliseconds(20))) {
            done = json::parse(*line);
        }
    }
    const auto& jobs = (*done)["jobs"];
    REQUIRE_MESSAGE(jobs.size() == 20000, done->dump().substr(0, 300));
    CHECK(std::all_of(jobs.begin(), jobs.end(),
                      [](const json& j) { return j["state"] == "succeeded"; }));
    std::sort(pings_ms.begin(), pings_ms.end());
    auto median = pings_ms[pings_ms.size() / 2];
    MESSAGE("pings: " << pings_ms.size() << ", median " << median << " ms, max " << pings_ms.back()
                      << " ms; RSS " << rss_before / 1048576 << " MB before, " << rss_peak / 1048576
                      << " MB at most");
    CHECK(median < 50);
    CHECK(pings_ms.back() < 2000 * instrumented_slowdown);
    // The deaf subscriber's backlog is bounded by limits.max_output_buffer_bytes
    // (8 MiB, dropped past twice that); the rest is 20,000 retained jobs.
    if (!memory_is_instrumented) {
        CHECK(rss_peak < rss_before + 150 * 1048576);
    }
}

TEST_CASE("connections.idle_ones_are_closed" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"limits", {{"idle_timeout_s", 0.5}}}}});
    LineClient idle(d.port());
    LineClient waiting(d.port());
    CHECK(idle.request({{"op", "ping"}})["pong"] == true);
    auto start = std::chrono::steady_clock::now();
    // A pending wait keeps a connection open past the idle timeout.
    waiting.send(
        {{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 1.5}}}, {"wait", true}});
    CHECK(idle.closed_by_peer(std::chrono::seconds(5)));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    CHECK(waiting.read_reply()["job"]["state"] == "succeeded");
}

TEST_CASE("connections.a_line_that_trickles_in_is_cut_at_request_timeout" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"limits", {{"request_timeout_s", 0.5}, {"idle_timeout_s", 60}}}}});
    LineClient slow(d.port());
    auto start = std::chrono::steady_clock::now();
    bool closed = false;
    for (int i = 0; i < 40 && !closed; ++i) {
        try {
            slow.send_raw("{");  // a byte every 100 ms: never a whole line
        } catch (const std::exception&) {
            closed = true;
        }
        closed = closed || slow.closed_by_peer(std::chrono::milliseconds(100));
    }
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    LineClient other(d.port());
    CHECK(other.request({{"op", "ping"}})["pong"] == true);
}

TEST_CASE("connections.half_closed_client_still_gets_its_replies" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    c.send({{"op", "submit"},
            {"id", 1},
            {"task", "sleep"},
            {"args", {{"seconds", 0.3}}},
            {"wait", true}});
    c.send({{"op", "ping"}, {"id", 2}});
    c.shutdown_write();  // like `nc -N`
    CHECK(c.read_reply()["id"] == 2);
    CHECK(c.read_reply()["job"]["state"] == "succeeded");
    CHECK(c.closed_by_peer());
}

TEST_CASE("connections.a_reader_that_never_reads_is_dropped" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"limits", {{"max_output_buffer_bytes", 65536}}}}});
    LineClient deaf(d.port());
    CHECK(deaf.request({{"op", "subscribe"}})["ok"] == true);
    LineClient c(d.port());
    // Events for the deaf subscriber pile up past the kernel's socket buffers, then
    // past twice the limit: the daemon closes that connection and serves the others.
    CHECK(submit_until_connections(c, 1));
    CHECK(c.request({{"op", "ping"}})["pong"] == true);
}

TEST_CASE("connections.json_logs_are_one_object_a_line" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"log", {{"format", "json"}}}}});
    LineClient c(d.port());
    c.request({{"op", "shutdown"}});
    CHECK(d.wait_exit(std::chrono::seconds(10)) == 0);
    std::istringstream lines(d.log());
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
        auto entry = json::parse(line);
        CHECK(entry.contains("time"));
        CHECK(entry.contains("level"));
        CHECK(entry["msg"].is_string());
        ++count;
    }
    CHECK(count >= 3);
}

TEST_CASE("connections.log_lines_carry_the_zone_and_the_configs_level_names" *
          doctest::timeout(30)) {
    for (const char* format : {"text", "json"}) {
        CAPTURE(format);
        DaemonProcess d({.config = {{"auth", {{"token", "tok"}}}, {"log", {{"format", format}}}}});
        LineClient c(d.port());
        c.send({{"op", "hello"}, {"token", "wrong"}});  // logged as a warning
        CHECK(c.closed_by_peer());
        REQUIRE(
            wait_for([&] { return d.log().find("wrong or missing token") != std::string::npos; }));
        auto log = d.log();
        std::regex warning(
            std::string(format) == "text"
                ? R"((^|\n)\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn  connection)"
                : R"("time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"warn")");
        CHECK_MESSAGE(std::regex_search(log, warning), log);
        CHECK(log.find("warning") == std::string::npos);
    }
}

TEST_CASE("connections.strangers_must_say_hello_in_time_and_cannot_lock_out_a_client" *
          doctest::timeout(60)) {
    DaemonProcess d({.config = {{"auth", {{"token", "tok"}}},
                                {"limits", {{"max_connections", 20}, {"auth_timeout_s", 0.5}}}}});
    LineClient silent(d.port());
    LineClient member(d.port());
    REQUIRE(member.request({{"op", "hello"}, {"token", "tok"}})["ok"] == true);
    CHECK(silent.closed_by_peer(std::chrono::seconds(5)));  // not the 300 s idle timeout
    // A probe needs no token, and showing none it is still a stranger.
    LineClient probe(d.port());
    probe.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    REQUIRE(probe.read_http_response());
    CHECK(probe.closed_by_peer(std::chrono::seconds(5)));
    CHECK(member.request({{"op", "ping"}})["pong"] == true);  // said hello: stays

    // 25 silent sockets cannot hold the 20 places: a client with the token gets in
    // at once, without waiting for them to time out.
    std::vector<std::unique_ptr<LineClient>> strangers;
    for (int i = 0; i < 25; ++i) {
        strangers.push_back(std::make_unique<LineClient>(d.port()));
    }
    LineClient late(d.port());
    auto hello = late.request({{"op", "hello"}, {"token", "tok"}}, std::chrono::seconds(2));
    CHECK(hello["ok"] == true);
    CHECK(late.request({{"op", "ping"}})["pong"] == true);
}
