// Many connections, idle and slow ones.
#include <chrono>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"

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
    std::string args = std::string(16 * 1024, 'x');
    bool dropped = false;
    for (int round = 0; round < 200 && !dropped; ++round) {
        std::string burst;
        for (int i = 0; i < 50; ++i) {
            burst += json{{"op", "submit"}, {"task", "echo"}, {"args", args}}.dump() + "\n";
        }
        c.send_raw(burst);
        for (int i = 0; i < 50; ++i) {
            REQUIRE(c.read_reply()["ok"] == true);
        }
        dropped = c.request({{"op", "stats"}})["connections"] == 1;
    }
    CHECK(dropped);
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
