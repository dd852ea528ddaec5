// Jobs due later (delay_s, run_at), back-off between attempts, and `retry`
// (PROTOCOL.md section 11), in every run of the suite, the cluster's included.
#include <chrono>
#include <csignal>
#include <thread>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/request_ok.hpp"
#include "../support/wait_for.hpp"
#include "proto/job.hpp"
#include "taskpool/client.hpp"

using namespace taskpool::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Nothing kept past the daemon, in every run of the suite.
json in_memory(json config = json::object()) {
    config["store"] = json::object();
    return config;
}

taskpool::proto::Timestamp time_of(const json& text) {
    auto t = taskpool::proto::parse_timestamp(text.get<std::string>());
    REQUIRE(t.has_value());
    return *t;
}

double seconds_between(const json& from, const json& to) {
    return std::chrono::duration<double>(time_of(to) - time_of(from)).count();
}

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

TEST_CASE("workflows.delay_s_keeps_a_job_scheduled_until_its_time" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto job = submit(c, {{"task", "echo"}, {"args", "later"}, {"delay_s", 1.5}});
    CHECK(job["state"] == "scheduled");
    CHECK(seconds_between(job["submitted_at"], job["scheduled_for"]) ==
          doctest::Approx(1.5).epsilon(0.05));

    auto listed = c.request({{"op", "list"}, {"state", "scheduled"}})["jobs"];
    REQUIRE(listed.size() == 1);
    CHECK(listed[0]["id"] == job["id"]);
    CHECK(c.request({{"op", "stats"}})["jobs"]["scheduled"] == 1);
    CHECK(c.request({{"op", "stats"}})["jobs"]["queued"] == 0);

    auto done = job_of(c, job["id"], 20);
    CHECK(done["state"] == "succeeded");
    CHECK(done["result"] == "later");
    // Not before its time, and not long after it on an idle daemon.
    double late = seconds_between(done["scheduled_for"], done["started_at"]);
    CHECK(late >= 0);
    CHECK(late < 1.0);
    CHECK(c.request({{"op", "stats"}})["jobs"]["scheduled"] == 0);
}

TEST_CASE("workflows.run_at_takes_rfc_3339_or_unix_seconds_and_a_past_time_runs_at_once" *
          doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto in_a_second = unix_ms_now() + 1000;
    auto by_number = submit(c, {{"task", "echo"}, {"run_at", in_a_second / 1000.0}});
    CHECK(by_number["state"] == "scheduled");
    auto text = taskpool::proto::format_timestamp(
        taskpool::proto::Timestamp(std::chrono::milliseconds(in_a_second)));
    CHECK(by_number["scheduled_for"] == text);
    // The same instant written with an offset.
    auto shifted = time_of(json(text)) + std::chrono::hours(2);
    auto local = taskpool::proto::format_timestamp(shifted);
    auto with_offset =
        submit(c, {{"task", "echo"}, {"run_at", local.substr(0, local.size() - 1) + "+02:00"}});
    CHECK(with_offset["scheduled_for"] == text);

    auto past = submit(c, {{"task", "echo"}, {"args", 1}, {"run_at", "2020-01-01T00:00:00Z"}});
    CHECK(past["state"] != "scheduled");
    CHECK(job_of(c, past["id"], 10)["state"] == "succeeded");
    for (const auto& job : {by_number, with_offset}) {
        auto done = job_of(c, job["id"], 20);
        CHECK(done["state"] == "succeeded");
        CHECK(seconds_between(done["scheduled_for"], done["started_at"]) >= 0);
    }
}

TEST_CASE("workflows.bad_scheduling_fields_are_refused_naming_the_field" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto refused = [&](json fields, const std::string& field) {
        fields["op"] = "submit";
        fields["task"] = "echo";
        auto reply = c.request(fields);
        CHECK_MESSAGE(reply["error"]["code"] == "bad_request", reply.dump());
        CHECK_MESSAGE(reply["error"]["message"].get<std::string>().find(field) != std::string::npos,
                      reply.dump());
    };
    refused({{"delay_s", -1}}, "delay_s");
    refused({{"delay_s", "soon"}}, "delay_s");
    refused({{"run_at", "tomorrow"}}, "run_at");
    refused({{"run_at", "2026-13-01T00:00:00Z"}}, "run_at");
    refused({{"run_at", -5}}, "run_at");
    refused({{"delay_s", 1}, {"run_at", "2030-01-01T00:00:00Z"}}, "run_at");
    refused({{"retry_backoff_s", -0.5}}, "retry_backoff_s");

    CHECK(c.request({{"op", "retry"}, {"job", "j-nope"}})["error"]["code"] == "no_such_job");
    CHECK(c.request({{"op", "retry"}})["error"]["code"] == "bad_request");
    auto ok = submit(c, {{"task", "echo"}, {"wait", true}});
    auto not_retryable = c.request({{"op", "retry"}, {"job", ok["id"]}});
    CHECK(not_retryable["error"]["code"] == "not_retryable");
    CHECK(not_retryable["error"]["message"].get<std::string>().find("succeeded") !=
          std::string::npos);
    CHECK(c.request({{"op", "stats"}})["jobs"]["scheduled"] == 0);  // nothing was accepted
}

TEST_CASE("workflows.a_scheduled_job_is_cancelled_and_retried_under_its_id" *
          doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto job = submit(c, {{"task", "echo"}, {"args", "again"}, {"delay_s", 3600}});
    auto cancelled = c.request({{"op", "cancel"}, {"job", job["id"]}})["job"];
    CHECK(cancelled["state"] == "cancelled");
    CHECK(c.request({{"op", "stats"}})["jobs"]["scheduled"] == 0);

    auto retried = c.request({{"op", "retry"}, {"job", job["id"]}});
    REQUIRE_MESSAGE(retried["ok"] == true, retried.dump());
    CHECK(retried["job"]["id"] == job["id"]);
    CHECK(retried["job"]["state"] != "cancelled");
    CHECK_FALSE(retried["job"].contains("error"));
    auto done = job_of(c, job["id"], 10);
    CHECK(done["state"] == "succeeded");
    CHECK(done["result"] == "again");
    CHECK(done["attempts"] == 1);
}

TEST_CASE("workflows.retry_runs_a_failed_job_again_and_its_attempts_go_on" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    LineClient watcher(d.port());
    auto failed = submit(c, {{"task", "fail"}, {"retries", 1}, {"wait", true}});
    REQUIRE(failed["state"] == "failed");
    CHECK(failed["attempts"] == 2);

    watcher.request({{"op", "subscribe"}});
    auto retried = c.request({{"op", "retry"}, {"job", failed["id"]}});
    REQUIRE(retried["ok"] == true);
    auto event = watcher.read_json();
    // In cluster mode the first end's event may reach this node's subscribers after
    // the reply that waited for it: a node hears its own events back from Redis.
    while (event["event"] != "job.finished" || event["job"]["attempts"] == 2) {
        event = watcher.read_json();
    }
    CHECK(event["job"]["state"] == "failed");
    CHECK(event["job"]["attempts"] == 3);
    CHECK(job_of(c, failed["id"])["attempts"] == 3);

    // Over HTTP too.
    LineClient http(d.port());
    http.send_raw("POST /v1/jobs/" + failed["id"].get<std::string>() +
                  "/retry HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    auto response = http.read_http_response();
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(json::parse(response->body)["job"]["id"] == failed["id"]);
    http.send_raw("GET /v1/jobs/" + failed["id"].get<std::string>() +
                  "/retry HTTP/1.1\r\nHost: t\r\n\r\n");
    response = http.read_http_response();
    REQUIRE(response);
    CHECK(response->status == 405);
}

TEST_CASE("workflows.the_client_library_schedules_and_retries" * doctest::timeout(30)) {
    DaemonProcess d;
    auto client = taskpool::Client::connect(d.address());
    REQUIRE(client);
    taskpool::proto::SubmitOptions later;
    later.delay_s = 0.2;
    auto job = client->submit("fail", nlohmann::json::object(), later);
    REQUIRE(job);
    CHECK(job->state == taskpool::proto::JobState::scheduled);
    CHECK(job->scheduled_for.has_value());
    auto failed = client->get(job->id, 10);
    REQUIRE(failed);
    CHECK(failed->state == taskpool::proto::JobState::failed);
    auto retried = client->retry(job->id);
    REQUIRE(retried);
    CHECK(retried->id == job->id);
    CHECK(client->get(job->id, 10)->attempts == 2);
    auto refused = client->retry("j-unknown");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == taskpool::proto::ErrorCode::no_such_job);
}

TEST_CASE("workflows.failed_attempts_back_off_exponentially_with_jitter" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    LineClient watcher(d.port());
    watcher.request({{"op", "subscribe"}});
    auto job = submit(c, {{"task", "fail"}, {"retries", 2}, {"retry_backoff_s", 0.5}});

    // Between attempts it is scheduled, for about 0.5 s and then 1 s (+-20%).
    REQUIRE(wait_for([&] {
        auto now = job_of(c, job["id"]);
        return now["state"] == "scheduled" && now["attempts"] == 1;
    }));
    std::vector<std::chrono::steady_clock::time_point> starts;  // as read here
    while (true) {
        auto e = watcher.read_json(20s);
        if (e["event"] == "job.started") {
            starts.push_back(std::chrono::steady_clock::now());
        } else if (e["event"] == "job.finished") {
            CHECK(e["job"]["state"] == "failed");
            CHECK(e["job"]["attempts"] == 3);
            break;
        }
    }
    REQUIRE(starts.size() == 3);
    // The first start was read late (after the wait above): only the first
    // back-off's upper bound holds.
    CHECK(std::chrono::duration<double>(starts[1] - starts[0]).count() < 0.6 + 0.5);
    double second = std::chrono::duration<double>(starts[2] - starts[1]).count();
    CHECK(second >= 0.8);
    CHECK(second < 1.2 + 0.5);
}

TEST_CASE("workflows.retries_backoff_s_from_the_config_is_bounded_by_max_backoff_s" *
          doctest::timeout(30)) {
    DaemonProcess d({.config = {{"retries", {{"backoff_s", 0.4}, {"max_backoff_s", 0.4}}}}});
    LineClient c(d.port());
    auto start = std::chrono::steady_clock::now();
    auto job = submit(c, {{"task", "fail"}, {"retries", 3}, {"wait", 20}});
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(job["state"] == "failed");
    CHECK(job["attempts"] == 4);
    // Three back-offs of 0.4 s +-20% (the doubling is capped): 0.96 to 1.44 s.
    CHECK(took >= 0.96);
    CHECK(took < 1.44 + 1.0);
}

TEST_CASE("workflows.a_map_due_later_is_scheduled_whole_and_runs_whole" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"queue", {{"max_size", 5}}}}});
    LineClient c(d.port());
    // Scheduled jobs take no room in the queue: 20 fit where 5 may queue.
    json items = json::array();
    for (int i = 0; i < 20; ++i) {
        items.push_back(i);
    }
    auto reply = c.request({{"op", "map"}, {"task", "echo"}, {"items", items}, {"delay_s", 0.5}});
    REQUIRE_MESSAGE(reply["ok"] == true, reply.dump());
    for (const auto& job : reply["jobs"]) {
        CHECK(job["state"] == "scheduled");
    }
    for (const auto& job : reply["jobs"]) {
        CHECK(job_of(c, job["id"], 10)["state"] == "succeeded");
    }
}

TEST_CASE("workflows.a_drain_leaves_jobs_due_later_and_without_a_journal_ends_them" *
          doctest::timeout(30)) {
    // With a journal they stay for the restart (durability.jobs_due_later_...).
    DaemonProcess d({.config = in_memory()});
    LineClient c(d.port());
    LineClient watcher(d.port());
    auto job = submit(c, {{"task", "echo"}, {"delay_s", 3600}});
    watcher.request({{"op", "subscribe"}, {"jobs", {job["id"]}}});
    auto start = std::chrono::steady_clock::now();
    d.signal(SIGTERM);
    auto e = watcher.read_json(10s);
    CHECK(e["event"] == "job.finished");
    CHECK(e["job"]["state"] == "cancelled");
    CHECK(e["job"]["error"]["code"] == "shutdown");
    REQUIRE(d.wait_exit(10s) == 0);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("workflows.100000_scheduled_jobs_come_due_within_a_second_of_their_time" *
          doctest::timeout(180)) {
    // Timers, not the pool's pace of running the jobs, are what this measures: no
    // thread runs them. With a journal, or in Redis, as the run of the suite has it.
    DaemonProcess d({.config = {{"queue", {{"max_size", 200000}}}}});
    LineClient c(d.port());
    c.request({{"op", "resize"}, {"pool", "thread"}, {"size", 0}});
    constexpr int maps = 10;
    constexpr int per_map = 10000;  // a reply to a map stays under the output bound
    constexpr std::int64_t lead_ms = 5000;
    json items = json::array();
    for (int i = 0; i < per_map; ++i) {
        items.push_back(i);
    }
    // Each map is due a few seconds after it is sent, later than it takes to accept.
    std::vector<std::int64_t> due;
    for (int m = 0; m < maps; ++m) {
        due.push_back(unix_ms_now() + lead_ms);
        auto reply = c.request(
            {{"op", "map"}, {"task", "echo"}, {"items", items}, {"run_at", due.back() / 1000.0}},
            60s);
        REQUIRE_MESSAGE(reply["ok"] == true, reply.dump().substr(0, 300));
    }
    // Every job left `scheduled` within a second of its time: at any moment, only
    // the jobs due less than a second ago, or not yet, may still be scheduled.
    auto latest = 0;
    while (true) {
        auto now = unix_ms_now();
        auto scheduled = c.request({{"op", "stats"}})["jobs"]["scheduled"].get<int>();
        int may_wait = 0;
        for (auto at : due) {
            may_wait += at > now - 1000 ? per_map : 0;
        }
        REQUIRE_MESSAGE(scheduled <= may_wait, scheduled, " jobs still scheduled at ",
                        now - due.front(), " ms after the first map's time");
        if (scheduled == 0) {
            latest = static_cast<int>(now - due.back());
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    MESSAGE("the last of ", maps * per_map, " jobs came due by ", latest, " ms after its time");
    CHECK(c.request({{"op", "stats"}})["pools"]["thread"]["queued"] == maps * per_map);
}
