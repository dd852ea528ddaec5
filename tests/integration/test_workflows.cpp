// Jobs after others (after) and follow-ups (then) (PROTOCOL.md section 11).
#include <chrono>

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

TEST_CASE("workflows.after_waits_until_every_job_named_has_succeeded" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto slow = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 0.6}}}});
    auto quick = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 0.2}}}});
    auto done_already = submit(c, {{"task", "echo"}, {"wait", true}});
    // A job named twice is waited for once.
    auto last = submit(c, {{"task", "echo"},
                           {"args", "last"},
                           {"after", {slow["id"], quick["id"], done_already["id"], quick["id"]}}});
    CHECK(last["state"] == "waiting");
    CHECK(last["after"].size() == 4);
    CHECK(c.request({{"op", "stats"}})["jobs"]["waiting"] == 1);
    CHECK(c.request({{"op", "list"}, {"state", "waiting"}})["jobs"][0]["id"] == last["id"]);

    auto ran = job_of(c, last["id"], 10);
    CHECK(ran["state"] == "succeeded");
    auto slow_end = job_of(c, slow["id"])["finished_at"].get<std::string>();
    auto quick_end = job_of(c, quick["id"])["finished_at"].get<std::string>();
    CHECK(ran["started_at"].get<std::string>() >= std::max(slow_end, quick_end));
    CHECK(c.request({{"op", "stats"}})["jobs"]["waiting"] == 0);

    // After jobs that have all succeeded already: queued at once.
    auto at_once = submit(c, {{"task", "echo"}, {"after", {done_already["id"]}}});
    CHECK(at_once["state"] != "waiting");
    CHECK(job_of(c, at_once["id"], 10)["state"] == "succeeded");
}

TEST_CASE("workflows.a_failed_or_cancelled_dependency_cancels_the_chain_below_it" *
          doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto first = submit(c, {{"task", "fail"}, {"delay_s", 0.3}});
    auto second = submit(c, {{"task", "echo"}, {"after", {first["id"]}}});
    auto third = submit(c, {{"task", "echo"}, {"after", {second["id"]}}});
    auto third_end = job_of(c, third["id"], 10);
    CHECK(third_end["state"] == "cancelled");
    CHECK(third_end["error"]["code"] == "dependency_failed");
    CHECK(third_end["error"]["message"] == "job " + second["id"].get<std::string>() + " cancelled");
    auto second_end = job_of(c, second["id"]);
    CHECK(second_end["error"]["code"] == "dependency_failed");
    CHECK(second_end["error"]["message"] == "job " + first["id"].get<std::string>() + " failed");

    // After a job that has failed already: cancelled at once.
    auto too_late = submit(c, {{"task", "echo"}, {"after", {first["id"]}}});
    CHECK(too_late["state"] == "cancelled");
    CHECK(too_late["error"]["code"] == "dependency_failed");

    // Cancelling a waiting job cancels what waits for it, and nothing else.
    auto blocker = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 30}}}});
    // Running before the cancel below, so that its state after says what the cancel
    // did to it (a node of a cluster may take it a moment later).
    REQUIRE(wait_for([&] { return job_of(c, blocker["id"])["state"] == "running"; }));
    auto waiting = submit(c, {{"task", "echo"}, {"after", {blocker["id"]}}});
    auto below = submit(c, {{"task", "echo"}, {"after", {waiting["id"]}}});
    CHECK(c.request({{"op", "cancel"}, {"job", waiting["id"]}})["job"]["state"] == "cancelled");
    CHECK(job_of(c, below["id"], 10)["error"]["code"] == "dependency_failed");
    CHECK(job_of(c, blocker["id"])["state"] == "running");
    CHECK(c.request({{"op", "stats"}})["jobs"]["waiting"] == 0);
    c.request({{"op", "cancel"}, {"job", blocker["id"]}});
}

TEST_CASE("workflows.after_an_unknown_job_accepts_nothing" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto known = submit(c, {{"task", "echo"}});
    auto reply =
        c.request({{"op", "submit"}, {"task", "echo"}, {"after", {known["id"], "j-01NOSUCHJOB"}}});
    CHECK(reply["error"]["code"] == "no_such_job");
    CHECK(reply["error"]["message"] == "field 'after': no job 'j-01NOSUCHJOB'");
    auto map = c.request(
        {{"op", "map"}, {"task", "echo"}, {"items", {1, 2}}, {"after", {"j-01NOSUCHJOB"}}});
    CHECK(map["error"]["code"] == "no_such_job");
    CHECK(c.request({{"op", "submit"}, {"task", "echo"}, {"after", "j-1"}})["error"]["code"] ==
          "bad_request");
    json many = json::array();
    for (int i = 0; i < 1001; ++i) {
        many.push_back(known["id"]);
    }
    auto too_many = c.request({{"op", "submit"}, {"task", "echo"}, {"after", many}});
    CHECK(too_many["error"]["message"] == "field 'after' names at most 1000 jobs");
    CHECK(c.request({{"op", "stats"}})["jobs"]["submitted"] == 1);
}

TEST_CASE("workflows.then_submits_a_follow_up_with_the_result_and_chains" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto parent = submit(c, {{"task", "fib"},
                             {"args", {{"n", 10}}},
                             {"then",
                              {{"task", "echo"},
                               {"args", {{"note", "fib done"}}},
                               {"priority", 5},
                               {"then", {{"task", "echo"}}}}},
                             {"wait", true}});
    REQUIRE(parent["state"] == "succeeded");
    REQUIRE(parent["then_job"].is_string());
    auto second = job_of(c, parent["then_job"], 10);
    CHECK(second["state"] == "succeeded");
    CHECK(second["priority"] == 5);
    CHECK(second["result"] == json{{"note", "fib done"}, {"result", {{"n", 10}, {"value", 55}}}});
    REQUIRE(second["then_job"].is_string());
    auto third = job_of(c, second["then_job"], 10);
    CHECK(third["result"]["result"]["note"] == "fib done");

    // A job that fails submits nothing.
    auto failed = submit(c, {{"task", "fail"}, {"then", {{"task", "echo"}}}, {"wait", true}});
    CHECK_FALSE(failed.contains("then_job"));

    // A follow-up whose args do not suit its task: the parent says why.
    auto unsuited = submit(
        c, {{"task", "echo"}, {"then", {{"task", "fib"}, {"args", {{"n", 3}}}}}, {"wait", true}});
    CHECK(unsuited["state"] == "succeeded");
    CHECK_FALSE(unsuited.contains("then_job"));
    CHECK(unsuited["then_error"]["code"] == "bad_request");
}

TEST_CASE("workflows.a_bad_then_is_refused_at_submit" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto refused = [&](json then, const std::string& code, const std::string& says) {
        auto reply = c.request({{"op", "submit"}, {"task", "echo"}, {"then", then}});
        CHECK_MESSAGE(reply["error"]["code"] == code, reply.dump());
        CHECK_MESSAGE(reply["error"]["message"].get<std::string>().find(says) != std::string::npos,
                      reply.dump());
    };
    refused("echo", "bad_request", "field 'then' must be an object");
    refused(json::object(), "bad_request", "field 'then.task' is required");
    refused({{"task", "echo"}, {"args", 1}}, "bad_request", "then.args");
    refused({{"task", "echo"}, {"wait", true}}, "bad_request", "then.wait");
    refused({{"task", "echo"}, {"key", "k"}}, "bad_request", "then.key");
    refused({{"task", "nope"}}, "no_such_task", "field 'then'");
    refused({{"task", "echo"}, {"then", {{"task", "nope"}}}}, "no_such_task", "field 'then'");
    auto map =
        c.request({{"op", "map"}, {"task", "echo"}, {"items", {1}}, {"then", {{"task", "nope"}}}});
    CHECK(map["error"]["code"] == "no_such_task");
    CHECK(c.request({{"op", "stats"}})["jobs"]["submitted"] == 0);
}

TEST_CASE("workflows.a_maps_then_follows_the_whole_batch_with_its_results_in_item_order" *
          doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    // Items that end out of order: the longest sleep is the first item.
    json items = json::array();
    for (double s : {0.3, 0.0, 0.1}) {
        items.push_back({{"seconds", s}});
    }
    c.send({{"op", "map"},
            {"task", "sleep"},
            {"items", items},
            {"notify", true},
            {"then", {{"task", "echo"}, {"args", {{"step", "fan-in"}}}, {"priority", 4}}}});
    json reply;
    json finished;
    while (finished.is_null()) {
        auto line = c.read_json(20s);
        if (line.value("event", "") == "batch.finished") {
            finished = line;
        } else if (!line.contains("event")) {
            reply = line;
        }
    }
    REQUIRE(reply["ok"] == true);
    REQUIRE(finished["then_job"].is_string());
    CHECK(finished["counts"]["succeeded"] == 3);
    auto follow_up = job_of(c, finished["then_job"], 10);
    CHECK(follow_up["state"] == "succeeded");
    CHECK(follow_up["priority"] == 4);
    json results = json::array();
    for (const auto& job : reply["jobs"]) {
        results.push_back(job_of(c, job["id"])["result"]);
    }
    CHECK(follow_up["args"] == json{{"step", "fan-in"}, {"results", results}});
    for (const auto& job : reply["jobs"]) {
        CHECK_FALSE(job_of(c, job["id"]).contains("then_job"));  // the batch's, not each job's
    }

    // A batch that did not all succeed submits no follow-up, and says why.
    c.send({{"op", "map"},
            {"task", "fail"},
            {"items", {json::object(), json::object()}},
            {"notify", true},
            {"then", {{"task", "echo"}}}});
    json failed;
    while (failed.is_null()) {
        auto line = c.read_json(20s);
        if (line.value("event", "") == "batch.finished") {
            failed = line;
        }
    }
    CHECK_FALSE(failed.contains("then_job"));
    CHECK(failed["then_error"]["code"] == "dependency_failed");
    CHECK(c.request({{"op", "stats"}})["jobs"]["submitted"] == 6);
}

TEST_CASE("workflows.the_client_sends_a_map_with_then_as_one_batch" * doctest::timeout(60)) {
    // The client splits a large map into requests of 1,000 items; a `then`
    // follows one batch, so that map goes whole.
    DaemonProcess d;
    auto client = taskpool::Client::connect(d.address());
    REQUIRE(client);
    std::vector<json> items;
    for (int i = 0; i < 2500; ++i) {
        items.emplace_back(i);
    }
    taskpool::proto::SubmitOptions options;
    options.then = taskpool::proto::RawJson(json{{"task", "echo"}});
    options.wait = 30;
    auto batch = client->map("echo", items, options);
    REQUIRE(batch);
    REQUIRE(batch->jobs.size() == 2500);
    LineClient c(d.port());
    std::vector<json> follow_ups;
    REQUIRE(wait_for([&] {
        follow_ups.clear();
        auto listed = c.request({{"op", "list"}, {"limit", 10}});
        for (const auto& job : listed["jobs"]) {
            if (job["args"].is_object()) {
                follow_ups.push_back(job);
            }
        }
        return !follow_ups.empty();
    }));
    REQUIRE(follow_ups.size() == 1);
    CHECK(follow_ups[0]["args"]["results"] == json(items));
}
