// Named queues with limits, and pauses of queues and pools (PROTOCOL.md section 12).
#include <algorithm>
#include <chrono>
#include <vector>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/request_ok.hpp"
#include "../support/wait_for.hpp"
#include "proto/job.hpp"

using namespace taskpool::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Submits a job that must be accepted, and returns its id.
std::string submit_id(LineClient& c, json fields) {
    fields["op"] = "submit";
    return ok(c, fields)["job"]["id"].get<std::string>();
}

json queue_named(LineClient& c, const std::string& name) {
    auto queues = ok(c, {{"op", "queue.list"}})["queues"];
    for (const auto& q : queues) {
        if (q["name"] == name) {
            return q;
        }
    }
    FAIL("no queue " << name);
    return nullptr;
}

/// The most jobs that ran at once, from their start and end times.
int most_at_once(const std::vector<json>& jobs) {
    std::vector<std::pair<double, int>> edges;
    for (const auto& j : jobs) {
        edges.emplace_back(seconds_at(j["started_at"]), 1);
        edges.emplace_back(seconds_at(j["finished_at"]), -1);
    }
    std::sort(edges.begin(), edges.end());  // an end before a start at the same instant
    int now = 0;
    int most = 0;
    for (auto [t, change] : edges) {
        most = std::max(most, now += change);
    }
    return most;
}

}  // namespace

TEST_CASE("queues.max_concurrency_holds_a_queue_to_its_limit" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 8}}},
                                {"queues", {{"slow", {{"max_concurrency", 2}}}}}}});
    LineClient c(d.port());
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
        ids.push_back(
            submit_id(c, {{"task", "sleep"}, {"args", {{"seconds", 0.3}}}, {"queue", "slow"}}));
    }
    auto q = queue_named(c, "slow");
    CHECK(q["max_concurrency"] == 2);
    CHECK(q["running"] <= 2);
    CHECK(q["queued"].get<int>() + q["running"].get<int>() == 6);
    CHECK(q["throttled"] == true);
    std::vector<json> jobs;
    for (const auto& id : ids) {
        jobs.push_back(job_of(c, id, 20));
        CHECK(jobs.back()["state"] == "succeeded");
        CHECK(jobs.back()["queue"] == "slow");
    }
    CHECK(most_at_once(jobs) == 2);
    q = queue_named(c, "slow");
    CHECK(q["running"] == 0);
    CHECK(q["queued"] == 0);
    CHECK(q["throttled"] == false);
}

TEST_CASE("queues.a_held_queue_never_holds_back_another_on_the_same_pool" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 4}}}}});
    LineClient c(d.port());
    ok(c, {{"op", "queue.set"}, {"queue", "one"}, {"max_concurrency", 1}});
    ok(c, {{"op", "pause"}, {"queue", "held"}});
    // Ahead in the queue and at a higher priority: jobs of a saturated queue and of
    // a paused one.
    std::vector<std::string> slow;
    for (int i = 0; i < 3; ++i) {
        slow.push_back(submit_id(
            c,
            {{"task", "sleep"}, {"args", {{"seconds", 1.5}}}, {"queue", "one"}, {"priority", 10}}));
    }
    auto paused = submit_id(c, {{"task", "echo"}, {"queue", "held"}, {"priority", 10}});
    auto other = job_of(c, submit_id(c, {{"task", "echo"}, {"queue", "other"}}), 10);
    auto unnamed = job_of(c, submit_id(c, {{"task", "echo"}}), 10);
    // Done while the first of the saturated queue still ran: not behind it.
    auto first = job_of(c, slow[0], 10);
    for (const auto& job : {other, unnamed}) {
        CHECK(job["state"] == "succeeded");
        CHECK(seconds_at(job["finished_at"]) < seconds_at(first["finished_at"]));
    }
    CHECK(job_of(c, paused)["state"] == "queued");
    auto resumed = ok(c, {{"op", "resume"}, {"queue", "held"}})["queue"];
    CHECK(resumed["paused"] == false);
    CHECK(job_of(c, paused, 10)["state"] == "succeeded");
    for (const auto& id : slow) {
        CHECK(job_of(c, id, 30)["state"] == "succeeded");
    }
}

TEST_CASE("queues.a_rate_limit_spaces_the_starts_after_a_full_bucket" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto set = ok(c, {{"op", "queue.set"}, {"queue", "mail"}, {"rate_limit", "5/s"}})["queue"];
    CHECK(set["rate_limit"] == "5/s");
    CHECK(set["max_concurrency"] == nullptr);
    std::vector<std::string> ids;
    for (int i = 0; i < 15; ++i) {
        ids.push_back(submit_id(c, {{"task", "echo"}, {"args", i}, {"queue", "mail"}}));
    }
    // Held back between tokens; a token's start takes a moment to follow it, and
    // a slow machine may read the queue in that moment.
    CHECK(wait_for([&] { return queue_named(c, "mail")["throttled"] == true; },
                   std::chrono::seconds(1)));
    std::vector<double> starts;
    for (const auto& id : ids) {
        auto job = job_of(c, id, 20);
        REQUIRE(job["state"] == "succeeded");
        starts.push_back(seconds_at(job["started_at"]));
    }
    std::sort(starts.begin(), starts.end());
    // Five at once from the full bucket, then one every 200 ms: the fifteenth about
    // two seconds after the first; never more than a bucket and a second's worth in
    // one second.
    CHECK(starts[14] - starts[0] >= 1.7);
    for (std::size_t i = 0; i + 11 < starts.size(); ++i) {
        CHECK(starts[i + 11] - starts[i] >= 1.0);
    }
    CHECK(starts[14] - starts[0] < 6.0);

    // No limit: the next ones start at once.
    ok(c, {{"op", "queue.set"}, {"queue", "mail"}, {"rate_limit", nullptr}});
    auto quick = submit_id(c, {{"task", "echo"}, {"queue", "mail"}});
    CHECK(job_of(c, quick, 10)["state"] == "succeeded");
    CHECK(queue_named(c, "mail")["rate_limit"] == nullptr);
}

TEST_CASE("queues.a_paused_pool_starts_nothing_until_resumed" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto paused = ok(c, {{"op", "pause"}, {"pool", "thread"}});
    CHECK(paused["pool"] == json{{"name", "thread"}, {"paused", true}});
    auto echo = submit_id(c, {{"task", "echo"}, {"args", 1}});
    auto fib = submit_id(c, {{"task", "fib"}, {"args", {{"n", 5}}}});
    CHECK(job_of(c, fib, 20)["state"] == "succeeded");  // the process pool runs on
    CHECK(job_of(c, echo, 0.5)["state"] == "queued");
    auto stats = ok(c, {{"op", "stats"}});
    CHECK(stats["pools"]["thread"]["paused"] == true);
    CHECK(stats["pools"]["process"]["paused"] == false);

    ok(c, {{"op", "resume"}, {"pool", "thread"}});
    CHECK(job_of(c, echo, 10)["state"] == "succeeded");
    CHECK(ok(c, {{"op", "stats"}})["pools"]["thread"]["paused"] == false);
}

TEST_CASE("queues.pausing_a_queue_lets_its_running_jobs_finish" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto running = submit_id(c, {{"task", "sleep"}, {"args", {{"seconds", 0.5}}}, {"queue", "q"}});
    REQUIRE(wait_for([&] { return job_of(c, running)["state"] == "running"; }));
    auto paused = ok(c, {{"op", "pause"}, {"queue", "q"}})["queue"];
    CHECK(paused["paused"] == true);
    CHECK(paused["running"] == 1);
    auto waiting = submit_id(c, {{"task", "echo"}, {"queue", "q"}});
    CHECK(job_of(c, running, 10)["state"] == "succeeded");
    CHECK(job_of(c, waiting, 0.5)["state"] == "queued");
    CHECK(queue_named(c, "q")["queued"] == 1);
    // A queued job of a paused queue can still be cancelled.
    CHECK(ok(c, {{"op", "cancel"}, {"job", waiting}})["job"]["state"] == "cancelled");
    CHECK(queue_named(c, "q")["queued"] == 0);
}

TEST_CASE("queues.a_slot_is_freed_by_every_end_of_a_run" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 4}}}}});
    LineClient c(d.port());
    ok(c, {{"op", "queue.set"}, {"queue", "one"}, {"max_concurrency", 1}});
    auto in_one = [](json fields) {
        fields["queue"] = "one";
        return fields;
    };
    // Cancelled while running.
    auto cancelled = submit_id(c, in_one({{"task", "sleep"}, {"args", {{"seconds", 30}}}}));
    REQUIRE(wait_for([&] { return job_of(c, cancelled)["state"] == "running"; }));
    ok(c, {{"op", "cancel"}, {"job", cancelled}});
    // Timed out, then failed twice and retried: each attempt holds the one slot.
    auto timed_out =
        submit_id(c, in_one({{"task", "sleep"}, {"args", {{"seconds", 30}}}, {"timeout_s", 0.2}}));
    auto retried = submit_id(c, in_one({{"task", "fail"}, {"retries", 2}}));
    auto last = submit_id(c, in_one({{"task", "echo"}, {"args", "last"}}));
    CHECK(job_of(c, timed_out, 20)["error"]["code"] == "timeout");
    CHECK(job_of(c, retried, 20)["attempts"] == 3);
    CHECK(job_of(c, last, 20)["result"] == "last");
    auto q = queue_named(c, "one");
    CHECK(q["running"] == 0);
    CHECK(q["queued"] == 0);
}

TEST_CASE("queues.a_daemon_keeps_at_most_1000_named_queues" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    for (int i = 0; i < 1000; ++i) {
        c.send({{"op", "pause"}, {"queue", "q" + std::to_string(i)}});
    }
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(c.read_reply()["ok"] == true);
    }
    for (json refused : {json{{"op", "pause"}, {"queue", "one-more"}},
                         json{{"op", "queue.set"}, {"queue", "one-more"}, {"max_concurrency", 1}},
                         json{{"op", "submit"}, {"task", "echo"}, {"queue", "one-more"}}}) {
        auto reply = c.request(refused);
        CHECK(reply["error"]["code"] == "bad_request");
        CHECK(reply["error"]["message"].get<std::string>().find("at most 1000 named queues") !=
              std::string::npos);
    }
    CHECK(ok(c, {{"op", "submit"}, {"task", "echo"}, {"queue", "q7"}})["job"]["queue"] == "q7");
}

TEST_CASE("queues.limits_come_from_the_config_and_show_in_queue_list" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"queues",
                                 {{"mail", {{"max_concurrency", 2}, {"rate_limit", "10/m"}}},
                                  {"reports", {{"rate_limit", "1/h"}}}}}}});
    LineClient c(d.port());
    auto queues = ok(c, {{"op", "queue.list"}})["queues"];
    REQUIRE(queues.size() == 2);
    CHECK(queues[0] == json{{"name", "mail"},
                            {"max_concurrency", 2},
                            {"rate_limit", "10/m"},
                            {"paused", false},
                            {"queued", 0},
                            {"running", 0},
                            {"throttled", false}});
    CHECK(queues[1]["name"] == "reports");
    CHECK(queues[1]["rate_limit"] == "1/h");
    // queue.set changes what it names and keeps the rest.
    auto set = ok(c, {{"op", "queue.set"}, {"queue", "mail"}, {"max_concurrency", 5}})["queue"];
    CHECK(set["max_concurrency"] == 5);
    CHECK(set["rate_limit"] == "10/m");
}

TEST_CASE("queues.a_task_of_the_config_names_the_queue_of_its_jobs" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"tasks",
                                 {{"hello", {{"command", {"echo", "hello"}}, {"queue", "mail"}}},
                                  {"resize", {{"remote", true}, {"queue", "images"}}}}}}});
    LineClient c(d.port());
    auto job = ok(c, {{"op", "submit"}, {"task", "hello"}})["job"];
    CHECK(job["queue"] == "mail");
    CHECK(ok(c, {{"op", "submit"}, {"task", "hello"}, {"queue", "other"}})["job"]["queue"] ==
          "other");
    auto remote = ok(c, {{"op", "submit"}, {"task", "resize"}})["job"];
    CHECK(remote["queue"] == "images");
    ok(c, {{"op", "cancel"}, {"job", remote["id"]}});  // no worker serves it here
    CHECK(ok(c, {{"op", "submit"}, {"task", "echo"}})["job"].count("queue") == 0);
    CHECK(job_of(c, job["id"], 20)["state"] == "succeeded");
}

TEST_CASE("queues.bad_queue_ops_are_refused_naming_the_field" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto refused = [&](json request, const std::string& field) {
        auto reply = c.request(request);
        CHECK_MESSAGE(reply["ok"] == false, reply.dump());
        CHECK(reply["error"]["code"] == "bad_request");
        CHECK_MESSAGE(reply["error"]["message"].get<std::string>().find("'" + field + "'") !=
                          std::string::npos,
                      reply.dump());
    };
    refused({{"op", "queue.set"}, {"queue", "q"}, {"rate_limit", "0/s"}}, "rate_limit");
    refused({{"op", "queue.set"}, {"queue", "q"}, {"rate_limit", "5/d"}}, "rate_limit");
    refused({{"op", "queue.set"}, {"queue", "q"}, {"rate_limit", 5}}, "rate_limit");
    refused({{"op", "queue.set"}, {"queue", "q"}, {"max_concurrency", 0}}, "max_concurrency");
    refused({{"op", "queue.set"}, {"queue", "q"}, {"max_concurrency", "2"}}, "max_concurrency");
    refused({{"op", "queue.set"}, {"max_concurrency", 2}}, "queue");
    refused({{"op", "queue.set"}, {"queue", "a b"}}, "queue");
    refused({{"op", "pause"}}, "queue");
    refused({{"op", "pause"}, {"queue", "q"}, {"pool", "thread"}}, "queue");
    refused({{"op", "pause"}, {"pool", "gpu"}}, "pool");
    refused({{"op", "resume"}, {"queue", "x/y"}}, "queue");
    refused({{"op", "submit"}, {"task", "echo"}, {"queue", ""}}, "queue");
    refused({{"op", "map"}, {"task", "echo"}, {"items", {1}}, {"queue", 7}}, "queue");
    // Nothing was made by what was refused.
    CHECK(ok(c, {{"op", "queue.list"}})["queues"].empty());
}

TEST_CASE("queues.the_http_routes" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto call = [&](const std::string& method, const std::string& target,
                    const std::string& body = "") {
        return http_call(d.port(), method, target, body);
    };
    auto set = call("PUT", "/v1/queues/mail", R"({"max_concurrency": 3, "rate_limit": "2/s"})");
    CHECK(set.status == 200);
    CHECK(json::parse(set.body)["queue"]["max_concurrency"] == 3);
    CHECK(json::parse(call("POST", "/v1/queues/mail/pause").body)["queue"]["paused"] == true);
    auto list = json::parse(call("GET", "/v1/queues").body)["queues"];
    REQUIRE(list.size() == 1);
    CHECK(list[0]["paused"] == true);
    auto metrics = call("GET", "/metrics").body;
    CHECK(metrics.find("taskpool_queue_paused{queue=\"mail\"} 1\n") != std::string::npos);
    CHECK(metrics.find("taskpool_queue_jobs{queue=\"mail\",state=\"queued\"} 0\n") !=
          std::string::npos);
    CHECK(json::parse(call("POST", "/v1/queues/mail/resume").body)["queue"]["paused"] == false);
    CHECK(json::parse(call("POST", "/v1/pools/thread/pause").body)["pool"]["paused"] == true);
    CHECK(ok(c, {{"op", "stats"}})["pools"]["thread"]["paused"] == true);
    CHECK(call("GET", "/metrics").body.find("taskpool_pool_paused{pool=\"thread\"} 1\n") !=
          std::string::npos);
    CHECK(json::parse(call("POST", "/v1/pools/thread/resume").body)["pool"]["paused"] == false);
    CHECK(call("GET", "/v1/queues/mail/pause").status == 405);
    CHECK(call("POST", "/v1/pools/gpu/pause").status == 400);
    CHECK(call("PUT", "/v1/queues/mail", R"({"rate_limit": "0/s"})").status == 400);
}

TEST_CASE("queues.a_drain_does_not_wait_for_what_a_pause_holds" * doctest::timeout(60)) {
    // With a journal the held jobs stay for the restart; without, they are
    // cancelled as jobs due later are. Either way the drain ends at once.
    DaemonProcess d({.config = {{"shutdown", {{"drain_timeout_s", 30}}}}});
    LineClient c(d.port());
    ok(c, {{"op", "pause"}, {"queue", "mail"}});
    ok(c, {{"op", "pause"}, {"pool", "process"}});
    submit_id(c, {{"task", "echo"}, {"args", "held"}, {"queue", "mail"}});
    submit_id(c, {{"task", "pid"}, {"pool", "process"}});
    submit_id(c, {{"task", "sleep"}, {"args", {{"seconds", 0.5}}}});  // runs to its end
    auto start = std::chrono::steady_clock::now();
    ok(c, {{"op", "shutdown"}});
    CHECK(d.wait_exit(20s) == 0);
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    CHECK(d.log().find("drain took longer") == std::string::npos);
}
