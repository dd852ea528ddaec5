// Shared state: kv.get/set/del/incr/cas, atomic under concurrency, reachable from
// command tasks through the CLI.
#include <atomic>
#include <climits>
#include <filesystem>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json kv(LineClient& c, const std::string& op, json fields) {
    fields["op"] = "kv." + op;
    return c.request(fields);
}

}  // namespace

TEST_CASE("kv.get_set_del" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    CHECK(kv(c, "get", {{"key", "a"}}) == json{{"ok", true}, {"value", nullptr}});
    CHECK(kv(c, "set", {{"key", "a"}, {"value", {{"x", {1, 2}}}}})["value"] == json{{"x", {1, 2}}});
    CHECK(kv(c, "get", {{"key", "a"}})["value"] == json{{"x", {1, 2}}});
    CHECK(kv(c, "del", {{"key", "a"}})["value"] == json{{"x", {1, 2}}});
    CHECK(kv(c, "del", {{"key", "a"}})["value"] == nullptr);
    kv(c, "set", {{"key", "b"}, {"value", "v"}});
    CHECK(kv(c, "set", {{"key", "b"}, {"value", nullptr}})["value"] == nullptr);  // removes it
    CHECK(c.request({{"op", "stats"}})["kv"]["keys"] == 0);
}

TEST_CASE("kv.incr_and_cas_semantics" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    CHECK(kv(c, "incr", {{"key", "n"}})["value"] == 1);  // a missing key counts as 0
    CHECK(kv(c, "incr", {{"key", "n"}, {"by", -5}})["value"] == -4);
    kv(c, "set", {{"key", "s"}, {"value", "text"}});
    auto reply = kv(c, "incr", {{"key", "s"}});
    CHECK(reply["error"]["code"] == "bad_request");
    CHECK(reply["error"]["message"].get<std::string>().find("not an integer") != std::string::npos);
    kv(c, "set", {{"key", "big"}, {"value", INT64_MAX}});
    CHECK(kv(c, "incr", {{"key", "big"}})["error"]["code"] == "bad_request");
    CHECK(kv(c, "get", {{"key", "big"}})["value"] == INT64_MAX);  // unchanged

    // cas: expect null matches a missing key; the reply has the value now.
    CHECK(kv(c, "cas", {{"key", "lock"}, {"expect", nullptr}, {"value", "me"}}) ==
          json{{"ok", true}, {"swapped", true}, {"value", "me"}});
    CHECK(kv(c, "cas", {{"key", "lock"}, {"expect", nullptr}, {"value", "you"}}) ==
          json{{"ok", true}, {"swapped", false}, {"value", "me"}});
    CHECK(kv(c, "cas", {{"key", "lock"}, {"expect", "me"}, {"value", nullptr}})["swapped"] == true);
    CHECK(kv(c, "get", {{"key", "lock"}})["value"] == nullptr);

    // Numbers compare as what they are, never through a double.
    kv(c, "set", {{"key", "exact"}, {"value", 9007199254740993}});
    CHECK(kv(c, "cas",
             {{"key", "exact"}, {"expect", 9007199254740992.0}, {"value", 0}})["swapped"] == false);
    kv(c, "set", {{"key", "exact"}, {"value", UINT64_MAX}});
    CHECK(kv(c, "cas",
             {{"key", "exact"}, {"expect", 18446744073709551616.0}, {"value", 0}})["swapped"] ==
          false);
    CHECK(kv(c, "cas", {{"key", "exact"}, {"expect", {UINT64_MAX}}, {"value", 0}})["swapped"] ==
          false);
    CHECK(kv(c, "cas",
             {{"key", "exact"}, {"expect", UINT64_MAX}, {"value", {{"n", 2}}}})["swapped"] == true);
    CHECK(kv(c, "cas", {{"key", "exact"}, {"expect", {{"n", 2.0}}}, {"value", -3}})["swapped"] ==
          true);  // a double that is exactly the integer
    CHECK(kv(c, "cas", {{"key", "exact"}, {"expect", -3.5}, {"value", 0}})["swapped"] == false);
    CHECK(kv(c, "cas", {{"key", "exact"}, {"expect", -3}, {"value", 0}})["swapped"] == true);

    // Bad requests name the field.
    CHECK(kv(c, "set", {{"key", "x"}})["error"]["message"] ==
          "field 'value' is required (null is allowed)");
    CHECK(kv(c, "get", {{"key", ""}})["error"]["code"] == "bad_request");
    CHECK(kv(c, "get", {{"key", std::string(2000, 'k')}})["error"]["code"] == "bad_request");
    CHECK(kv(c, "incr", {{"key", "n"}, {"by", 1.5}})["error"]["code"] == "bad_request");
    CHECK(kv(c, "cas", {{"key", "n"}, {"value", 1}})["error"]["message"] ==
          "field 'expect' is required (null is allowed)");
    CHECK(c.request({{"op", "kv.nope"}})["error"]["code"] == "unknown_op");
}

TEST_CASE("kv.atomic_under_concurrency" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient setup(d.port());
    kv(setup, "set", {{"key", "stock"}, {"value", 100}});
    // 20 connections x 5 decrements of a stock of 100 leave exactly 0.
    std::vector<std::thread> threads;
    for (int t = 0; t < 20; ++t) {
        threads.emplace_back([&d] {
            LineClient c(d.port());
            for (int i = 0; i < 5; ++i) {
                kv(c, "incr", {{"key", "stock"}, {"by", -1}});
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(kv(setup, "get", {{"key", "stock"}})["value"] == 0);

    // A read-modify-write loop on cas loses no update: 10 clients x 20 increments.
    threads.clear();
    std::atomic<int> conflicts = 0;
    for (int t = 0; t < 10; ++t) {
        threads.emplace_back([&d, &conflicts] {
            LineClient c(d.port());
            for (int done = 0; done < 20;) {
                json now = kv(c, "get", {{"key", "count"}})["value"];
                int next = now.is_null() ? 1 : now.get<int>() + 1;
                if (kv(c, "cas", {{"key", "count"}, {"expect", now}, {"value", next}})["swapped"]) {
                    ++done;
                } else {
                    ++conflicts;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(kv(setup, "get", {{"key", "count"}})["value"] == 200);
    MESSAGE("cas conflicts retried: " << conflicts.load());
}

TEST_CASE("kv.the_ticket_counter_from_command_tasks" * doctest::timeout(60)) {
    // The tutorial in docs/kv.md: 100 jobs each try to take one of 10 tickets.
    auto cli_dir = std::filesystem::path(binary_path("taskpool")).parent_path().string();
    json take = {{"command",
                  {"sh", "-c", "left=$(taskpool kv incr tickets --by -1) && [ \"$left\" -ge 0 ]"}},
                 {"env", {{"PATH", cli_dir + ":/usr/bin:/bin"}}}};
    DaemonProcess d({.config = {{"tasks", {{"take-ticket", take}}}}});
    LineClient c(d.port());
    kv(c, "set", {{"key", "tickets"}, {"value", 10}});
    std::vector<std::string> ids;
    for (int i = 0; i < 100; ++i) {
        ids.push_back(c.request({{"op", "submit"}, {"task", "take-ticket"}})["job"]["id"]);
    }
    int succeeded = 0;
    int failed = 0;
    for (const auto& id : ids) {
        auto job = c.request({{"op", "get"}, {"job", id}, {"wait", 30}}, 40s)["job"];
        succeeded += job["state"] == "succeeded" ? 1 : 0;
        failed += job["state"] == "failed" && job["error"]["code"] == "exit_status" ? 1 : 0;
    }
    CHECK(succeeded == 10);
    CHECK(failed == 90);
}

TEST_CASE("kv.a_byte_budget_bounds_what_any_client_can_pin" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"kv", {{"max_bytes", 4096}}}}});
    LineClient c(d.port());
    CHECK(kv(c, "set", {{"key", "a"}, {"value", std::string(3000, 'a')}})["ok"] == true);
    auto full = kv(c, "set", {{"key", "b"}, {"value", std::string(3000, 'b')}});
    CHECK(full["error"]["code"] == "unavailable");
    CHECK(full["error"]["message"].get<std::string>().find("kv.max_bytes (4096)") !=
          std::string::npos);
    CHECK(kv(c, "get", {{"key", "b"}})["value"] == nullptr);  // nothing was changed
    CHECK(kv(c, "cas",
             {{"key", "b"},
              {"expect", nullptr},
              {"value", std::string(3000, 'b')}})["error"]["code"] == "unavailable");
    CHECK(c.request({{"op", "stats"}})["kv"]["bytes"] > 3000);
    // Smaller is always allowed, and what is freed is room again.
    CHECK(kv(c, "set", {{"key", "a"}, {"value", "small"}})["ok"] == true);
    CHECK(kv(c, "set", {{"key", "b"}, {"value", std::string(3000, 'b')}})["ok"] == true);
    CHECK(kv(c, "incr", {{"key", "n"}})["value"] == 1);
}
