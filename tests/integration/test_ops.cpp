// Every op of PROTOCOL.md section 5 that this daemon serves, over a raw connection.
#include <unistd.h>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;

TEST_CASE("ops.hello_reports_server_pools_and_tasks" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 3}}}}});
    LineClient c(d.port());
    auto r = c.request({{"op", "hello"}, {"id", 1}, {"client", "test"}});
    CHECK(r["id"] == 1);
    CHECK(r["ok"] == true);
    CHECK(r["server"] == "taskpoold");
    CHECK(r["protocol"] == 1);
    CHECK(r["pools"]["thread"]["size"] == 3);
    CHECK(r["tasks"] == json{"echo", "fail", "fib", "pid", "sleep"});
}

TEST_CASE("ops.ping_with_and_without_id" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    CHECK(c.request({{"op", "ping"}, {"id", "abc"}}) ==
          json{{"id", "abc"}, {"ok", true}, {"pong", true}});
    auto no_id = c.request({{"op", "ping"}});
    CHECK_FALSE(no_id.contains("id"));
    CHECK(no_id["pong"] == true);
}

TEST_CASE("ops.submit_get_list_and_results" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto sub = c.request({{"op", "submit"}, {"id", 1}, {"task", "fib"}, {"args", {{"n", 20}}}});
    REQUIRE(sub["ok"] == true);
    auto id = sub["job"]["id"].get<std::string>();
    CHECK(sub["job"]["state"] == "queued");
    CHECK(sub["job"]["task"] == "fib");
    CHECK(sub["job"]["pool"] == "process");

    auto got = c.request({{"op", "get"}, {"id", 2}, {"job", id}, {"wait", 10}});
    CHECK(got["job"]["state"] == "succeeded");
    CHECK(got["job"]["result"] == json{{"n", 20}, {"value", 6765}});
    CHECK(got["job"]["attempts"] == 1);
    CHECK(got["job"]["worker"]["pid"] != d.pid());
    CHECK_FALSE(got["job"]["worker"].contains("thread"));
    for (const char* field : {"submitted_at", "started_at", "finished_at"}) {
        std::string t = got["job"][field];
        CHECK_MESSAGE(t.size() == 24, field);
        CHECK(t.back() == 'Z');
    }

    auto failed = c.request(
        {{"op", "submit"}, {"task", "fail"}, {"args", {{"message", "no"}}}, {"wait", true}});
    CHECK(failed["job"]["state"] == "failed");
    CHECK(failed["job"]["error"] == json{{"code", "task_error"}, {"message", "no"}});

    auto all = c.request({{"op", "list"}});
    REQUIRE(all["jobs"].size() == 2);
    CHECK(all["jobs"][0]["task"] == "fail");  // newest first
    CHECK(all["jobs"][1]["id"] == id);
    auto only = c.request({{"op", "list"}, {"state", "failed"}, {"limit", 5}});
    REQUIRE(only["jobs"].size() == 1);
    CHECK(only["jobs"][0]["state"] == "failed");
    CHECK(c.request({{"op", "list"}, {"limit", 1}})["jobs"].size() == 1);
}

TEST_CASE("ops.pid_reports_the_daemon_on_the_thread_pool" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto r = c.request({{"op", "submit"}, {"task", "pid"}, {"pool", "thread"}, {"wait", true}});
    CHECK(r["job"]["result"]["pid"] == d.pid());
    CHECK(r["job"]["result"]["ppid"] == ::getpid());
    CHECK(r["job"]["result"]["thread"] != d.pid());
}

TEST_CASE("ops.stats_counts_jobs_and_connections" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 1}}}}});
    LineClient c(d.port());
    LineClient other(d.port());
    c.request({{"op", "submit"}, {"task", "echo"}, {"wait", true}});
    c.request({{"op", "submit"}, {"task", "fail"}, {"wait", true}});
    c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 30}}}});
    c.request({{"op", "submit"}, {"task", "echo"}});
    auto s = c.request({{"op", "stats"}});
    CHECK(s["connections"] == 2);
    CHECK(s["jobs"]["submitted"] == 4);
    CHECK(s["jobs"]["succeeded"] == 1);
    CHECK(s["jobs"]["failed"] == 1);
    CHECK(s["pools"]["thread"]["size"] == 1);
    CHECK(s["jobs"]["running"].get<int>() + s["jobs"]["queued"].get<int>() == 2);
    CHECK(s["pools"]["process"]["workers"].is_array());
    CHECK(s["uptime_s"].is_number());
}

TEST_CASE("ops.tasks_describes_each_task" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto r = c.request({{"op", "tasks"}});
    REQUIRE(r["tasks"].size() == 5);
    for (const auto& t : r["tasks"]) {
        CHECK(t["kind"] == "builtin");
        bool cpu = t["name"] == "fib" || t["name"] == "pid";
        CHECK(t["pool"] == (cpu ? "process" : "thread"));
        CHECK_FALSE(t["description"].get<std::string>().empty());
    }
}

TEST_CASE("ops.cancel_a_queued_and_a_running_job" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 1}}}}});
    LineClient c(d.port());
    auto running =
        c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 60}}}})["job"]["id"];
    auto queued = c.request({{"op", "submit"}, {"task", "echo"}, {"args", 1}})["job"]["id"];
    REQUIRE(wait_for([&] {
        return c.request({{"op", "get"}, {"job", running}})["job"]["state"] == "running";
    }));

    auto q = c.request({{"op", "cancel"}, {"job", queued}});
    CHECK(q["job"]["state"] == "cancelled");
    CHECK(q["job"]["error"]["code"] == "cancelled");
    CHECK(q["job"]["attempts"] == 0);

    auto start = std::chrono::steady_clock::now();
    auto r = c.request({{"op", "cancel"}, {"job", running}});
    CHECK(r["job"]["state"] == "cancelled");
    // The thread is free again promptly: the next job runs.
    auto next = c.request({{"op", "submit"}, {"task", "echo"}, {"args", 2}, {"wait", 10}});
    CHECK(next["job"]["state"] == "succeeded");
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    auto again = c.request({{"op", "cancel"}, {"job", running}});
    CHECK(again["error"]["code"] == "not_cancellable");
}

TEST_CASE("ops.subscribe_and_unsubscribe" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient watcher(d.port());
    LineClient submitter(d.port());
    auto sub = watcher.request({{"op", "subscribe"}, {"id", "s"}});
    CHECK(sub == json{{"id", "s"}, {"ok", true}});
    auto id = submitter.request({{"op", "submit"}, {"task", "echo"}, {"args", "hi"}})["job"]["id"];
    auto started = watcher.read_json();
    CHECK(started["event"] == "job.started");
    CHECK(started["job"]["id"] == id);
    CHECK_FALSE(started.contains("ok"));
    auto finished = watcher.read_json();
    CHECK(finished["event"] == "job.finished");
    CHECK(finished["job"]["result"] == "hi");

    CHECK(watcher.request({{"op", "unsubscribe"}})["ok"] == true);
    submitter.request({{"op", "submit"}, {"task", "echo"}, {"wait", true}});
    CHECK(watcher.request({{"op", "ping"}})["pong"] == true);
    CHECK_FALSE(watcher.read_line(std::chrono::milliseconds(300)).has_value());
}

TEST_CASE("ops.subscribe_to_given_jobs_and_notify" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 1}}}}});
    LineClient c(d.port());
    auto blocker =
        c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 0.3}}}})["job"]["id"];
    auto done = c.request({{"op", "submit"}, {"task", "echo"}, {"wait", true}})["job"]["id"];
    LineClient w(d.port());
    CHECK(w.request({{"op", "subscribe"}, {"jobs", {done}}})["ok"] == true);
    auto e = w.read_json();  // already finished: told at once
    CHECK(e["event"] == "job.finished");
    CHECK(e["job"]["id"] == done);
    CHECK(w.request({{"op", "subscribe"}, {"jobs", {"j-none"}}})["error"]["code"] == "no_such_job");

    LineClient n(d.port());
    auto r =
        n.request({{"op", "submit"}, {"id", 9}, {"task", "echo"}, {"args", 5}, {"notify", true}});
    CHECK(r["job"]["state"] == "queued");  // the reply comes before any event
    auto started = n.read_json();
    CHECK(started["event"] == "job.started");
    auto finished = n.read_json();
    CHECK(finished["event"] == "job.finished");
    CHECK(finished["job"]["result"] == 5);
    (void)blocker;
}

TEST_CASE("ops.shutdown_replies_then_stops" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    auto r = c.request({{"op", "shutdown"}, {"id", 1}, {"mode", "now"}});
    CHECK(r == json{{"id", 1}, {"ok", true}});
    CHECK(d.wait_exit(std::chrono::seconds(10)) == 0);
}

TEST_CASE("ops.finished_jobs_are_retained_within_a_byte_budget_and_resize_within_max_size" *
          doctest::timeout(60)) {
    DaemonProcess d({.config = {{"jobs", {{"max_retained_bytes", 1 << 20}}},
                                {"process_pool", {{"size", 1}, {"max_size", 3}}},
                                {"limits", {{"max_message_bytes", 1 << 20}}}}});
    LineClient c(d.port());
    std::vector<json> ids;
    for (int i = 0; i < 10; ++i) {  // 200 KB of args and as much of result each
        auto reply = c.request(
            {{"op", "submit"}, {"task", "echo"}, {"args", std::string(200000, 'x')}, {"wait", 10}});
        REQUIRE(reply["job"]["state"] == "succeeded");
        ids.push_back(reply["job"]["id"]);
    }
    CHECK(c.request({{"op", "get"}, {"job", ids.front()}})["error"]["code"] == "no_such_job");
    CHECK(c.request({{"op", "get"}, {"job", ids.back()}})["ok"] == true);
    auto kept = c.request({{"op", "list"}, {"limit", 100}})["jobs"].size();
    CHECK(kept >= 1);
    CHECK(kept <= 3);

    auto too_big = c.request({{"op", "resize"}, {"pool", "process"}, {"size", 4}});
    CHECK(too_big["error"]["code"] == "bad_request");
    CHECK(too_big["error"]["message"] == "field 'size' must be at most 3 (process_pool.max_size)");
    CHECK(c.request({{"op", "resize"}, {"pool", "process"}, {"size", 3}})["ok"] == true);
}
