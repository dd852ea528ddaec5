// Recurring schedules (PROTOCOL.md section 13).
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/proc.hpp"
#include "../support/request_ok.hpp"
#include "../support/temp_dir.hpp"
#include "../support/wait_for.hpp"
#include "proto/job.hpp"

using namespace taskpool::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

double now_s() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

/// The jobs a schedule has submitted, newest first.
std::vector<json> jobs_of(LineClient& c, const std::string& schedule) {
    std::vector<json> out;
    auto listed = ok(c, {{"op", "list"}, {"limit", 1000}});
    for (const auto& job : listed["jobs"]) {
        if (job.value("schedule", "") == schedule) {
            out.push_back(job);
        }
    }
    return out;
}

json schedule_named(LineClient& c, const std::string& name) {
    auto listed = ok(c, {{"op", "schedule.list"}});
    for (const auto& s : listed["schedules"]) {
        if (s["name"] == name) {
            return s;
        }
    }
    FAIL("no schedule " << name);
    return nullptr;
}

}  // namespace

TEST_CASE("schedules.every_s_fires_one_job_a_period_with_the_schedules_name" *
          doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    double set_at = now_s();
    auto set = ok(c, {{"op", "schedule.set"},
                      {"name", "tick"},
                      {"task", "echo"},
                      {"args", {{"n", 1}}},
                      {"every_s", 1},
                      {"options", {{"priority", 3}, {"retries", 2}}}})["schedule"];
    CHECK(set["name"] == "tick");
    CHECK(set["every_s"] == 1);
    CHECK(set["catch_up"] == "one");
    CHECK(set["paused"] == false);
    CHECK(set["from_config"] == false);
    CHECK(set["last_job"].is_null());
    // every_s first fires every_s after it is set.
    CHECK(std::abs(seconds_at(set["next_at"]) - (set_at + 1)) < 0.5);

    REQUIRE(wait_for([&] { return jobs_of(c, "tick").size() >= 3; }, 15s));
    auto jobs = jobs_of(c, "tick");
    for (const auto& job : jobs) {
        CHECK(job["task"] == "echo");
        CHECK(job["args"] == json{{"n", 1}});
        CHECK(job["priority"] == 3);
    }
    // A period apart: the cadence holds from the time it was set, not from each job.
    double gap = seconds_at(jobs[0]["submitted_at"]) - seconds_at(jobs[1]["submitted_at"]);
    CHECK(gap > 0.5);
    CHECK(gap < 1.6);
    CHECK(seconds_at(jobs.back()["submitted_at"]) - set_at > 0.8);

    auto listed = schedule_named(c, "tick");
    auto newest = jobs_of(c, "tick").front();
    CHECK(listed["last_job"] == newest["id"]);
    CHECK(listed["last_at"] == newest["submitted_at"]);
    CHECK(seconds_at(listed["next_at"]) > seconds_at(listed["last_at"]));
    auto done = ok(c, {{"op", "get"}, {"job", newest["id"]}, {"wait", 10}})["job"];
    CHECK(done["state"] == "succeeded");
    CHECK(done["schedule"] == "tick");
}

TEST_CASE("schedules.cron_names_the_next_whole_minute_that_matches" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto every_minute = ok(c, {{"op", "schedule.set"},
                               {"name", "m"},
                               {"task", "echo"},
                               {"cron", "* * * * *"}})["schedule"];
    double next = seconds_at(every_minute["next_at"]);
    CHECK(std::fmod(next, 60.0) == 0.0);
    CHECK(next > now_s());
    CHECK(next <= now_s() + 60);
    CHECK(every_minute.contains("every_s") == false);

    // 29 February, either day rule: the 13th or any Friday, in UTC.
    auto leap = ok(c, {{"op", "schedule.set"},
                       {"name", "leap"},
                       {"task", "echo"},
                       {"cron", "30 12 29 2 *"}})["schedule"];
    auto due = leap["next_at"].get<std::string>();
    CHECK(due.substr(4, 16) == "-02-29T12:30:00.");
    auto friday = ok(c, {{"op", "schedule.set"},
                         {"name", "friday13"},
                         {"task", "echo"},
                         {"cron", "0 0 13 * 5"}})["schedule"];
    auto t = static_cast<std::time_t>(seconds_at(friday["next_at"]));
    std::tm utc{};
    gmtime_r(&t, &utc);
    CHECK((utc.tm_mday == 13 || utc.tm_wday == 5));
    CHECK(seconds_at(friday["next_at"]) - now_s() <= 7 * 86400);  // either day, not both
    CHECK(ok(c, {{"op", "schedule.list"}})["schedules"].size() == 3);
}

TEST_CASE("schedules.bad_input_is_refused_naming_the_field_and_nothing_is_made" *
          doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto refused = [&](json fields, const std::string& field,
                       const std::string& code = "bad_request") {
        fields["op"] = "schedule.set";
        if (!fields.contains("name")) {
            fields["name"] = "s";
        }
        auto reply = c.request(fields);
        INFO(reply.dump());
        CHECK(reply["ok"] == false);
        CHECK(reply["error"]["code"] == code);
        CHECK(reply["error"]["message"].get<std::string>().find(field) != std::string::npos);
    };
    refused({{"task", "echo"}, {"cron", "61 * * * *"}}, "minute 61");
    refused({{"task", "echo"}, {"cron", "* * *"}}, "cron");
    refused({{"task", "echo"}, {"cron", "0 0 31 2 *"}}, "cron");
    refused({{"task", "echo"}, {"cron", "* * * * *"}, {"every_s", 5}}, "cron");
    refused({{"task", "echo"}}, "every_s");
    refused({{"task", "echo"}, {"every_s", 0.5}}, "every_s");
    refused({{"task", "echo"}, {"every_s", "5"}}, "every_s");
    refused({{"task", "nope"}, {"every_s", 5}}, "nope", "no_such_task");
    refused({{"name", "a/b"}, {"task", "echo"}, {"every_s", 5}}, "name");
    refused({{"task", "echo"}, {"every_s", 5}, {"options", {{"wait", true}}}}, "wait");
    refused({{"task", "echo"}, {"every_s", 5}, {"options", {{"priority", "high"}}}}, "priority");
    refused({{"task", "echo"}, {"every_s", 5}, {"catch_up", "all"}}, "catch_up");
    auto del = c.request({{"op", "schedule.del"}, {"name", "ghost"}});
    CHECK(del["error"]["code"] == "no_such_schedule");
    CHECK(ok(c, {{"op", "schedule.list"}})["schedules"].empty());
}

TEST_CASE("schedules.a_replaced_schedule_keeps_its_last_firing_and_a_deleted_one_stops" *
          doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    json tick = {{"op", "schedule.set"}, {"name", "t"}, {"task", "echo"}, {"every_s", 1}};
    ok(c, tick);
    REQUIRE(wait_for([&] { return !jobs_of(c, "t").empty(); }, 10s));
    auto fired = schedule_named(c, "t");
    REQUIRE(fired["last_job"].is_string());

    tick["paused"] = true;
    auto paused = ok(c, tick)["schedule"];
    CHECK(paused["paused"] == true);
    CHECK(paused["next_at"].is_null());
    CHECK(paused["last_job"] == fired["last_job"]);
    auto count = jobs_of(c, "t").size();
    std::this_thread::sleep_for(1500ms);  // a paused schedule fires nothing
    CHECK(jobs_of(c, "t").size() == count);

    tick["paused"] = false;
    ok(c, tick);
    REQUIRE(wait_for([&] { return jobs_of(c, "t").size() > count; }, 10s));
    ok(c, {{"op", "schedule.del"}, {"name", "t"}});
    count = jobs_of(c, "t").size();
    std::this_thread::sleep_for(1500ms);  // nor does a deleted one
    CHECK(jobs_of(c, "t").size() == count);
    CHECK(ok(c, {{"op", "schedule.list"}})["schedules"].empty());
}

TEST_CASE("schedules.the_configs_are_listed_and_cannot_be_changed_by_ops" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"schedules",
                                 {{"nightly", {{"task", "echo"}, {"cron", "0 3 * * *"}}},
                                  {"often", {{"task", "echo"}, {"every_s", 1}}}}}}});
    LineClient c(d.port());
    auto nightly = schedule_named(c, "nightly");
    CHECK(nightly["from_config"] == true);
    CHECK(nightly["next_at"].get<std::string>().substr(10, 9) == "T03:00:00");
    REQUIRE(wait_for([&] { return !jobs_of(c, "often").empty(); }, 10s));

    auto set =
        c.request({{"op", "schedule.set"}, {"name", "nightly"}, {"task", "echo"}, {"every_s", 5}});
    CHECK(set["error"]["code"] == "bad_request");
    CHECK(set["error"]["message"].get<std::string>().find("schedules.nightly") !=
          std::string::npos);
    CHECK(c.request({{"op", "schedule.del"}, {"name", "often"}})["error"]["code"] == "bad_request");
    CHECK(schedule_named(c, "nightly")["cron"] == "0 3 * * *");

    // One whose jobs could never be accepted stops the start, naming it.
    TempDir dir;
    auto path = dir.path() / "bad.json";
    std::ofstream(path) << json{{"listen", "127.0.0.1:0"},
                                {"schedules", {{"ghost", {{"task", "nope"}, {"every_s", 5}}}}}}
                               .dump();
    auto bad = run_command({binary_path("taskpoold"), "--config", path.string()});
    CHECK(bad.exit_code == 1);
    CHECK(bad.out.find("schedules.ghost: no task named 'nope'") != std::string::npos);
}

TEST_CASE("schedules.a_refused_firing_is_counted_and_the_schedule_goes_on" * doctest::timeout(60)) {
    // A queue of one, held by a long job: each firing finds it full.
    DaemonProcess d({.config = {{"queue", {{"max_size", 1}}}, {"thread_pool", {{"size", 1}}}}});
    LineClient c(d.port());
    auto blocker = ok(c, {{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 30}}}});
    REQUIRE(wait_for([&] {
        return ok(c, {{"op", "get"}, {"job", blocker["job"]["id"]}})["job"]["state"] == "running";
    }));
    ok(c, {{"op", "submit"}, {"task", "echo"}, {"args", "waits"}});
    ok(c, {{"op", "schedule.set"}, {"name", "full"}, {"task", "echo"}, {"every_s", 1}});
    auto refused = [&] {
        auto metrics = http_call(d.port(), "GET", "/metrics").body;
        auto key =
            std::string("taskpool_schedule_firings_total{schedule=\"full\",outcome=\"refused\"} ");
        auto at = metrics.find(key);
        return at == std::string::npos ? 0 : std::stoi(metrics.substr(at + key.size()));
    };
    REQUIRE(wait_for([&] { return refused() >= 2; }, 10s));
    CHECK(jobs_of(c, "full").empty());
    CHECK(schedule_named(c, "full")["last_job"].is_null());
    CHECK(d.log().find("schedule 'full': its job was refused") != std::string::npos);

    ok(c, {{"op", "cancel"}, {"job", blocker["job"]["id"]}});
    REQUIRE(wait_for([&] { return !jobs_of(c, "full").empty(); }, 10s));
    auto metrics = http_call(d.port(), "GET", "/metrics").body;
    CHECK(
        metrics.find("taskpool_schedule_firings_total{schedule=\"full\",outcome=\"submitted\"}") !=
        std::string::npos);
    CHECK(metrics.find("taskpool_schedule_lateness_seconds{schedule=\"full\"}") !=
          std::string::npos);
}

TEST_CASE("schedules.the_http_routes" * doctest::timeout(30)) {
    DaemonProcess d;
    auto put = http_call(d.port(), "PUT", "/v1/schedules/report",
                         R"({"task": "echo", "cron": "0 3 * * 1-5", "args": [1]})");
    CHECK(put.status == 200);
    CHECK(json::parse(put.body)["schedule"]["name"] == "report");
    auto list = json::parse(http_call(d.port(), "GET", "/v1/schedules").body)["schedules"];
    REQUIRE(list.size() == 1);
    CHECK(list[0]["cron"] == "0 3 * * 1-5");
    CHECK(http_call(d.port(), "PUT", "/v1/schedules/x", R"({"task": "echo", "cron": "61 * * * *"})")
              .status == 400);
    CHECK(http_call(d.port(), "DELETE", "/v1/schedules/report").status == 200);
    CHECK(http_call(d.port(), "DELETE", "/v1/schedules/report").status == 404);
    CHECK(http_call(d.port(), "POST", "/v1/schedules/report").status == 405);
    CHECK(json::parse(http_call(d.port(), "GET", "/v1/schedules").body)["schedules"].empty());
}
