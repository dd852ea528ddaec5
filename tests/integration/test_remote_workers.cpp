// Remote workers over raw sockets (PROTOCOL.md section 10): registration, jobs
// pushed within capacity by priority across tasks, the reports, cancel and timeout
// with their grace, workers lost by closing or by silence.
#include <sys/socket.h>

#include <chrono>
#include <csignal>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/http_listener.hpp"
#include "../support/line_client.hpp"
#include "../support/request_ok.hpp"
#include "../support/temp_dir.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// A worker on a raw connection. Events that come while it waits for a reply are
/// kept, in order, for next_event().
class RawWorker {
public:
    explicit RawWorker(const DaemonProcess& d) : c_(d.port()) {}

    json register_for(const json& tasks, int capacity = 1, const std::string& name = "test") {
        return request(
            {{"op", "worker.register"}, {"tasks", tasks}, {"capacity", capacity}, {"name", name}});
    }
    json request(const json& request) {
        c_.send(request);
        for (;;) {
            auto line = c_.read_json();
            if (!line.contains("event")) {
                return line;
            }
            events_.push_back(std::move(line));
        }
    }
    /// The next event, or null if none came in time.
    json next_event(std::chrono::milliseconds timeout = 10s) {
        if (!events_.empty()) {
            auto e = std::move(events_.front());
            events_.pop_front();
            return e;
        }
        auto line = c_.read_line(timeout);
        return line ? json::parse(*line) : json();
    }
    /// The job of the next job.assign.
    json assigned(std::chrono::milliseconds timeout = 10s) {
        auto e = next_event(timeout);
        REQUIRE_MESSAGE(e.value("event", "") == "job.assign", e.dump());
        return e["job"];
    }
    json done(const std::string& job, const json& result) {
        return request({{"op", "job.done"}, {"job", job}, {"result", result}});
    }
    LineClient& connection() { return c_; }

private:
    LineClient c_;
    std::deque<json> events_;
};

}  // namespace

TEST_CASE("remote.a_worker_runs_a_job_and_reports_progress" * doctest::timeout(60)) {
    DaemonProcess d;
    RawWorker w(d);
    auto reg =
        w.register_for({"resize", {{"name", "ocr"}, {"description", "reads text"}}}, 2, "host-a/1");
    REQUIRE(reg["ok"] == true);
    CHECK(reg["worker"].get<std::string>().starts_with("w-"));
    CHECK(reg["heartbeat_s"] == 5.0);

    LineClient c(d.port());
    auto tasks = c.request({{"op", "tasks"}})["tasks"];
    bool listed = false;
    for (const auto& t : tasks) {
        if (t["name"] == "ocr") {
            listed = true;
            CHECK(t["kind"] == "remote");
            CHECK(t["pool"] == "remote");
            CHECK(t["workers"] == 1);
            CHECK(t["description"] == "reads text");
        }
    }
    CHECK(listed);

    auto job = submit(c, {{"task", "resize"}, {"args", {{"w", 640}}}, {"notify", true}});
    CHECK(job["pool"] == "remote");
    auto given = w.assigned();
    CHECK(given["id"] == job["id"]);
    CHECK(given["state"] == "running");
    CHECK(given["args"] == json{{"w", 640}});
    CHECK(given["worker"] == json{{"id", reg["worker"]}, {"name", "host-a/1"}});

    CHECK(w.request(
              {{"op", "job.progress"}, {"job", job["id"]}, {"progress", {{"pct", 40}}}})["ok"] ==
          true);
    CHECK(c.read_json()["event"] == "job.started");
    auto progress = c.read_json();
    CHECK(progress ==
          json{{"event", "job.progress"}, {"job", job["id"]}, {"progress", {{"pct", 40}}}});
    CHECK(job_of(c, job["id"])["progress"] == json{{"pct", 40}});

    auto stats = c.request({{"op", "stats"}})["pools"]["remote"];
    CHECK(stats["busy"] == 1);
    CHECK(stats["workers"][0]["name"] == "host-a/1");
    CHECK(stats["workers"][0]["tasks"] == json{"resize", "ocr"});
    CHECK(stats["workers"][0]["capacity"] == 2);

    auto metrics = run_command({"curl", "-s", "http://" + d.address() + "/metrics"}).out;
    CHECK(metrics.find("taskpool_remote_workers 1") != std::string::npos);
    CHECK(metrics.find("taskpool_remote_worker_busy{worker=\"" + reg["worker"].get<std::string>() +
                       "\",name=\"host-a/1\"} 1") != std::string::npos);
    CHECK(metrics.find("taskpool_queue_depth{pool=\"remote\"} 0") != std::string::npos);

    CHECK(w.done(job["id"], {{"ok", true}})["ok"] == true);
    auto finished = c.read_json();
    CHECK(finished["event"] == "job.finished");
    CHECK(finished["job"]["state"] == "succeeded");
    CHECK(finished["job"]["result"] == json{{"ok", true}});
    // Its report is final: another is refused and changes nothing.
    CHECK(w.done(job["id"], 2)["error"]["code"] == "not_assigned");
    CHECK(job_of(c, job["id"])["result"] == json{{"ok", true}});
}

TEST_CASE("remote.registration_is_checked" * doctest::timeout(30)) {
    DaemonProcess d;
    RawWorker w(d);
    auto local = w.register_for({"echo"});
    CHECK(local["error"]["code"] == "bad_request");
    CHECK(local["error"]["message"].get<std::string>().find("'echo' is a builtin task") !=
          std::string::npos);
    CHECK(w.register_for(json::array())["error"]["code"] == "bad_request");
    CHECK(w.register_for({"a b"})["error"]["code"] == "bad_request");
    CHECK(w.register_for({"x"}, 0)["error"]["code"] == "bad_request");
    CHECK(w.register_for({"x"}, 1025)["error"]["code"] == "bad_request");
    REQUIRE(w.register_for({"x"})["ok"] == true);
    CHECK(w.register_for({"y"})["error"]["message"] ==
          "this connection is a worker already: it registers once");

    // Reports from a connection that is no worker, or on a job it never held.
    LineClient stranger(d.port());
    auto reply = stranger.request({{"op", "job.done"}, {"job", "j-none"}, {"result", 1}});
    CHECK(reply["error"]["code"] == "not_assigned");
    CHECK(w.done("j-none", 1)["error"]["code"] == "not_assigned");
    CHECK(w.request({{"op", "job.fail"}, {"job", "j-none"}})["error"]["code"] == "bad_request");
    CHECK(w.request({{"op", "job.progress"}, {"job", "j-none"}})["error"]["code"] == "bad_request");
    // A task no worker ever served is unknown.
    LineClient c(d.port());
    CHECK(c.request({{"op", "submit"}, {"task", "never"}})["error"]["code"] == "no_such_task");
}

TEST_CASE("remote.capacity_is_respected_and_load_spread" * doctest::timeout(60)) {
    DaemonProcess d;
    RawWorker a(d);
    REQUIRE(a.register_for({"t"}, 2, "a")["ok"] == true);
    LineClient c(d.port());
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) {
        ids.push_back(submit(c, {{"task", "t"}, {"args", i}})["id"]);
    }
    auto first = a.assigned();
    auto second = a.assigned();
    CHECK(first["id"] == ids[0]);  // first in, first out
    CHECK(second["id"] == ids[1]);
    CHECK(a.next_event(300ms).is_null());  // two slots, two jobs
    CHECK(c.request({{"op", "stats"}})["pools"]["remote"]["queued"] == 3);

    // A second worker takes from the same queue.
    RawWorker b(d);
    REQUIRE(b.register_for({"t"}, 1, "b")["ok"] == true);
    CHECK(b.assigned()["id"] == ids[2]);
    CHECK(a.done(first["id"], 0)["ok"] == true);
    CHECK(a.assigned()["id"] == ids[3]);
    CHECK(b.done(ids[2], 2)["ok"] == true);
    CHECK(b.assigned()["id"] == ids[4]);
}

TEST_CASE("remote.priority_then_fifo_across_the_tasks_a_worker_serves" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    {
        RawWorker early(d);  // makes the tasks known, then goes
        REQUIRE(early.register_for({"a", "b"})["ok"] == true);
    }
    REQUIRE(wait_for([&] {
        return c.request({{"op", "stats"}})["pools"]["remote"]["workers"].empty();
    }));
    auto low = submit(c, {{"task", "a"}, {"priority", 0}});
    auto mid = submit(c, {{"task", "b"}, {"priority", 5}});
    auto high = submit(c, {{"task", "a"}, {"priority", 9}});
    auto mid2 = submit(c, {{"task", "b"}, {"priority", 5}});
    // Queued while no worker serves them.
    CHECK(job_of(c, low["id"])["state"] == "queued");

    RawWorker w(d);
    REQUIRE(w.register_for({"a", "b"}, 1)["ok"] == true);
    for (const auto& expected : {high, mid, mid2, low}) {
        auto job = w.assigned();
        CHECK(job["id"] == expected["id"]);
        CHECK(w.done(job["id"], nullptr)["ok"] == true);
    }
}

TEST_CASE("remote.a_failure_is_retried_and_reports_its_type" * doctest::timeout(60)) {
    DaemonProcess d;
    RawWorker w(d);
    REQUIRE(w.register_for({"t"})["ok"] == true);
    LineClient c(d.port());
    auto job = submit(c, {{"task", "t"}, {"retries", 1}});
    auto given = w.assigned();
    CHECK(given["attempts"] == 1);
    auto fail = json{{"op", "job.fail"},
                     {"job", job["id"]},
                     {"error", {{"message", "bad size"}, {"type", "ValueError"}}}};
    CHECK(w.request(fail)["ok"] == true);
    auto again = w.assigned();
    CHECK(again["id"] == job["id"]);
    CHECK(again["attempts"] == 2);
    CHECK(w.request(fail)["ok"] == true);
    auto failed = job_of(c, job["id"], 10);
    CHECK(failed["state"] == "failed");
    CHECK(failed["error"] == json{{"code", "task_error"}, {"message", "ValueError: bad size"}});
}

TEST_CASE("remote.cancel_and_timeout_tell_the_worker_and_hold_the_slot" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"workers", {{"cancel_grace_s", 30}}}}});
    RawWorker w(d);
    REQUIRE(w.register_for({"t"}, 1)["ok"] == true);
    LineClient c(d.port());
    auto job = submit(c, {{"task", "t"}});
    auto next = submit(c, {{"task", "t"}});
    CHECK(w.assigned()["id"] == job["id"]);
    auto cancelled = c.request({{"op", "cancel"}, {"job", job["id"]}});
    CHECK(cancelled["job"]["state"] == "cancelled");
    CHECK(w.next_event() ==
          json{{"event", "job.cancel"}, {"job", job["id"]}, {"reason", "cancelled"}});
    // The slot stays taken until the worker says it has stopped.
    CHECK(w.next_event(300ms).is_null());
    CHECK(
        w.request({{"op", "job.progress"}, {"job", job["id"]}, {"progress", 1}})["error"]["code"] ==
        "not_assigned");
    CHECK(w.done(job["id"], 1)["error"]["code"] == "not_assigned");
    CHECK(job_of(c, job["id"])["state"] == "cancelled");
    CHECK(w.assigned()["id"] == next["id"]);
    CHECK(w.done(next["id"], 1)["ok"] == true);

    auto slow = submit(c, {{"task", "t"}, {"timeout_s", 0.3}});
    auto slow_job = w.assigned();
    CHECK(slow_job["id"] == slow["id"]);
    CHECK(slow_job["timeout_s"] == 0.3);
    CHECK(w.next_event() ==
          json{{"event", "job.cancel"}, {"job", slow["id"]}, {"reason", "timeout"}});
    auto timed_out = job_of(c, slow["id"]);
    CHECK(timed_out["state"] == "failed");
    CHECK(timed_out["error"]["code"] == "timeout");
}

TEST_CASE("remote.a_worker_that_ignores_a_cancel_is_cut_off" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"workers", {{"cancel_grace_s", 0.5}}}}});
    RawWorker w(d);
    REQUIRE(w.register_for({"t"}, 2)["ok"] == true);
    LineClient c(d.port());
    auto ignored = submit(c, {{"task", "t"}});
    auto other = submit(c, {{"task", "t"}, {"retries", 1}});
    w.assigned();
    w.assigned();
    c.request({{"op", "cancel"}, {"job", ignored["id"]}});
    CHECK(w.next_event()["event"] == "job.cancel");
    CHECK(w.connection().closed_by_peer(5s));
    // Its other job was lost with it, and waits for another worker.
    auto back = job_of(c, other["id"]);
    CHECK(back["state"] == "queued");
    CHECK(back["attempts"] == 1);
    RawWorker next(d);
    REQUIRE(next.register_for({"t"})["ok"] == true);
    CHECK(next.assigned()["attempts"] == 2);
    CHECK(d.log().find("did not stop a job within workers.cancel_grace_s") != std::string::npos);
}

TEST_CASE("remote.a_worker_lost_by_closing_or_silence" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"workers", {{"heartbeat_s", 0.2}}}}});
    LineClient c(d.port());
    {
        RawWorker w(d);
        REQUIRE(w.register_for({"t"}, 2)["ok"] == true);
        auto kept = submit(c, {{"task", "t"}, {"retries", 1}});
        auto lost = submit(c, {{"task", "t"}});
        w.assigned();
        w.assigned();
        ::shutdown(w.connection().fd(), SHUT_RDWR);
        auto failed = job_of(c, lost["id"], 10);
        CHECK(failed["state"] == "failed");
        CHECK(failed["error"]["code"] == "worker_lost");
        CHECK(job_of(c, kept["id"])["state"] == "queued");
    }
    // Silent for three heartbeats (0.6 s): lost, though its connection is open.
    RawWorker quiet(d);
    REQUIRE(quiet.register_for({"t"})["ok"] == true);
    auto job = quiet.assigned();
    CHECK(job["attempts"] == 2);
    CHECK(quiet.connection().closed_by_peer(5s));
    auto failed = job_of(c, job["id"]);
    CHECK(failed["state"] == "failed");
    CHECK(failed["error"]["code"] == "worker_lost");

    // One that pings stays.
    RawWorker alive(d);
    REQUIRE(alive.register_for({"t"})["ok"] == true);
    for (int i = 0; i < 10; ++i) {
        std::this_thread::sleep_for(100ms);
        REQUIRE(alive.request({{"op", "ping"}})["ok"] == true);
    }
}

TEST_CASE("remote.a_result_over_the_message_limit_cuts_the_worker_off" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"limits", {{"max_message_bytes", 4096}}}}});
    RawWorker w(d);
    REQUIRE(w.register_for({"t"}, 2)["ok"] == true);
    RawWorker good(d);
    LineClient c(d.port());
    auto job = submit(c, {{"task", "t"}, {"retries", 1}});
    w.assigned();
    w.connection().send(
        {{"op", "job.done"}, {"job", job["id"]}, {"result", std::string(8192, 'x')}});
    CHECK(w.connection().closed_by_peer(5s));
    // The job is not lost with it: another worker runs it.
    REQUIRE(good.register_for({"t"})["ok"] == true);
    auto again = good.assigned();
    CHECK(again["id"] == job["id"]);
    CHECK(good.done(job["id"], "small")["ok"] == true);
    CHECK(job_of(c, job["id"], 10)["result"] == "small");
}

TEST_CASE("remote.a_quiet_worker_is_given_no_more_jobs" * doctest::timeout(60)) {
    DaemonProcess d;
    RawWorker w(d);
    REQUIRE(w.register_for({"t"}, 1)["ok"] == true);
    LineClient c(d.port());
    auto first = submit(c, {{"task", "t"}});
    auto second = submit(c, {{"task", "t"}});
    CHECK(w.assigned()["id"] == first["id"]);
    CHECK(w.request({{"op", "worker.quiet"}})["ok"] == true);
    CHECK(w.done(first["id"], 1)["ok"] == true);
    CHECK(w.next_event(300ms).is_null());  // the slot is free, and stays so
    CHECK(c.request({{"op", "stats"}})["pools"]["remote"]["workers"][0]["state"] == "quiet");
    CHECK(job_of(c, second["id"])["state"] == "queued");
    LineClient stranger(d.port());
    CHECK(stranger.request({{"op", "worker.quiet"}})["error"]["code"] == "not_assigned");
}

TEST_CASE("remote.a_task_from_the_config_queues_before_any_worker" * doctest::timeout(60)) {
    DaemonProcess d(
        {.config = {{"tasks", {{"ocr", {{"remote", true}, {"description", "reads text"}}}}}}});
    LineClient c(d.port());
    auto job = submit(c, {{"task", "ocr"}, {"args", "page-1"}});
    CHECK(job["state"] == "queued");
    RawWorker w(d);
    REQUIRE(w.register_for({"ocr"})["ok"] == true);
    auto given = w.assigned();
    CHECK(given["id"] == job["id"]);
    CHECK(w.done(given["id"], "text")["ok"] == true);
    CHECK(job_of(c, job["id"], 10)["result"] == "text");

    // A remote task takes only `remote` and `description`, and no built-in's name.
    TempDir dir;
    auto path = (dir.path() / "taskpool.json").string();
    std::ofstream(path)
        << json{{"tasks", {{"ocr", {{"remote", true}, {"pool", "thread"}}}}}}.dump();
    auto bad = run_command({binary_path("taskpoold"), "--config", path, "--check-config"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("tasks.ocr.pool: a remote task takes only remote and description") !=
          std::string::npos);
    std::ofstream(path) << json{{"tasks", {{"echo", {{"remote", true}}}}}}.dump();
    auto taken =
        run_command({binary_path("taskpoold"), "--config", path, "--listen", "127.0.0.1:0"});
    CHECK(taken.exit_code == 1);
    CHECK(taken.out.find("tasks.echo: 'echo' is a builtin task") != std::string::npos);
}

TEST_CASE("remote.a_timed_out_job_retried_onto_the_same_worker" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"workers", {{"cancel_grace_s", 30}}}}});
    RawWorker w(d);
    REQUIRE(w.register_for({"t"}, 2)["ok"] == true);
    LineClient c(d.port());
    auto job = submit(c, {{"task", "t"}, {"timeout_s", 0.3}, {"retries", 1}});
    CHECK(w.assigned()["attempts"] == 1);
    CHECK(w.next_event()["event"] == "job.cancel");
    // The retry comes to the same worker, which still holds the first attempt.
    auto again = w.assigned();
    CHECK(again["id"] == job["id"]);
    CHECK(again["attempts"] == 2);
    // The first attempt's report frees its slot and changes nothing; the second's counts.
    CHECK(w.done(job["id"], "late")["error"]["code"] == "not_assigned");
    CHECK(w.done(job["id"], "on time")["ok"] == true);
    auto done = job_of(c, job["id"], 10);
    CHECK(done["result"] == "on time");
    CHECK(done["attempts"] == 2);
    CHECK(c.request({{"op", "stats"}})["pools"]["remote"]["busy"] == 0);
}

TEST_CASE("remote.the_journal_remembers_remote_tasks_and_who_ran_each_job" * doctest::timeout(60)) {
    TempDir state;
    json config = {{"store", {{"path", (state.path() / "journal.db").string()}}}};
    auto d = std::make_unique<DaemonProcess>(DaemonProcess::Options{.config = config});
    std::string id;
    std::string worker_id;
    {
        RawWorker w(*d);
        auto reg = w.register_for({{{"name", "ocr"}, {"description", "reads text"}},
                                   {{"name", "idle"}, {"description", "never ran"}}},
                                  1, "host-a/1");
        REQUIRE(reg["ok"] == true);
        worker_id = reg["worker"];
        LineClient c(d->port());
        id = submit(c, {{"task", "ocr"}})["id"];
        CHECK(w.done(w.assigned()["id"], 42)["ok"] == true);
        CHECK(job_of(c, id, 10)["state"] == "succeeded");
    }
    d->signal(SIGKILL);
    REQUIRE(d->wait_exit(10s));
    d = std::make_unique<DaemonProcess>(DaemonProcess::Options{.config = config});
    LineClient c(d->port());
    // Both tasks are known before any worker registers, with what they do: even
    // one that no job has named.
    json remote = json::object();
    auto tasks = c.request({{"op", "tasks"}})["tasks"];
    for (const auto& t : tasks) {
        if (t["kind"] == "remote") {
            remote[t["name"]] = t["description"];
            CHECK(t["workers"] == 0);
        }
    }
    CHECK(remote.dump() == json{{"idle", "never ran"}, {"ocr", "reads text"}}.dump());

    CHECK(submit(c, {{"task", "idle"}})["state"] == "queued");
    // The job names the worker that ran it, as it did before the restart.
    CHECK(job_of(c, id)["worker"] == json{{"id", worker_id}, {"name", "host-a/1"}});
}

TEST_CASE("remote.bind_webhooks_and_idempotency_keys_work_on_remote_jobs" * doctest::timeout(60)) {
    HttpListener hook;
    DaemonProcess d;
    RawWorker w(d);
    REQUIRE(w.register_for({"ocr"}, 2)["ok"] == true);
    LineClient c(d.port());

    // A webhook posts the job a worker finished.
    auto hooked = submit(c, {{"task", "ocr"}, {"callback", {{"url", hook.url("/done")}}}});
    CHECK(w.done(w.assigned()["id"], "read")["ok"] == true);
    REQUIRE(hook.wait_for(1, 10s));
    auto body = json::parse(hook.requests().front().body);
    CHECK(body["job"]["id"] == hooked["id"]);
    CHECK(body["job"]["result"] == "read");
    CHECK(body["job"]["worker"]["name"] == "test");

    // The same key is the same job, assigned once.
    auto first = submit(c, {{"task", "ocr"}, {"key", "scan-7"}});
    auto again = submit(c, {{"task", "ocr"}, {"key", "scan-7"}});
    CHECK(again["id"] == first["id"]);
    CHECK(w.assigned()["id"] == first["id"]);
    CHECK(w.done(first["id"], 7)["ok"] == true);
    CHECK(w.next_event(500ms).is_null());  // nothing more was assigned

    // A bound job is cancelled when its connection closes: the worker is told.
    std::string bound;
    {
        LineClient owner(d.port());
        bound = submit(owner, {{"task", "ocr"}, {"bind", true}})["id"];
        CHECK(w.assigned()["id"] == bound);
    }
    auto cancel = w.next_event();
    CHECK(cancel == json{{"event", "job.cancel"}, {"job", bound}, {"reason", "cancelled"}});
    CHECK(job_of(c, bound)["state"] == "cancelled");
    CHECK(w.done(bound, 1)["error"]["code"] == "not_assigned");
}

TEST_CASE("remote.a_worker_that_floods_reports_harms_no_one_else" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"workers", {{"heartbeat_s", 1}}},
                                {"limits", {{"max_output_buffer_bytes", 65536}}}}});
    RawWorker steady(d);
    REQUIRE(steady.register_for({"ocr"}, 1, "steady")["ok"] == true);
    LineClient c(d.port());

    // 20,000 progress reports, pipelined a thousand at a time, on a job it holds:
    // each answered, the last one kept, and the other worker's job runs meanwhile.
    RawWorker loud(d);
    REQUIRE(loud.register_for({"ocr"}, 1, "loud")["ok"] == true);
    auto a = submit(c, {{"task", "ocr"}});
    auto b = submit(c, {{"task", "ocr"}});
    std::string loud_job = loud.assigned()["id"];
    std::string steady_job = steady.assigned()["id"];
    for (int batch = 0; batch < 20; ++batch) {
        // Silent for three heartbeats (3 s), a worker is lost: on a busy machine the
        // flood takes longer than that, and the steady worker must not seem lost.
        REQUIRE(steady.request({{"op", "ping"}})["ok"] == true);
        std::string lines;
        for (int i = 0; i < 1000; ++i) {
            lines += json{{"op", "job.progress"}, {"job", loud_job}, {"progress", batch * 1000 + i}}
                         .dump() +
                     "\n";
        }
        loud.connection().send_raw(lines);
        if (batch == 10) {
            CHECK(steady.done(steady_job, "steady")["ok"] == true);
        }
        for (int i = 0; i < 1000; ++i) {
            CHECK(loud.connection().read_reply()["ok"] == true);
        }
    }
    CHECK(job_of(c, steady_job)["result"] == "steady");
    CHECK(job_of(c, loud_job)["progress"] == 19999);
    CHECK(loud.done(loud_job, "loud")["ok"] == true);
    CHECK(job_of(c, a["id"], 10)["state"] == "succeeded");
    CHECK(job_of(c, b["id"], 10)["state"] == "succeeded");

    // One that floods without reading its replies is paused, falls silent, and is
    // lost: its job runs again on the other worker.
    REQUIRE(steady.request({{"op", "ping"}})["ok"] == true);
    submit(c, {{"task", "ocr"}, {"retries", 1}});
    submit(c, {{"task", "ocr"}, {"retries", 1}});
    std::string held = loud.assigned()["id"];
    CHECK(steady.done(steady.assigned()["id"], "its own")["ok"] == true);
    std::string lines;
    for (int i = 0; i < 1000; ++i) {
        lines += json{{"op", "job.progress"}, {"job", held}, {"progress", i}}.dump() + "\n";
    }
    for (int i = 0; i < 200; ++i) {  // what the socket takes without blocking
        if (::send(loud.connection().fd(), lines.data(), lines.size(), MSG_DONTWAIT) < 0) {
            break;
        }
    }
    json rerun;  // meanwhile the steady worker keeps its heartbeat
    for (int i = 0; i < 100 && rerun.is_null(); ++i) {
        REQUIRE(steady.request({{"op", "ping"}})["ok"] == true);
        if (auto e = steady.next_event(200ms); e.is_object() && e["event"] == "job.assign") {
            rerun = e["job"];
        }
    }
    CHECK(rerun["id"] == held);
    CHECK(rerun["attempts"] == 2);
    CHECK(steady.done(held, "rescued")["ok"] == true);
    CHECK(job_of(c, held, 10)["result"] == "rescued");
    CHECK(c.request({{"op", "ping"}})["ok"] == true);
}
