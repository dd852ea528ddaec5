// Cluster mode across nodes (PROTOCOL.md section 15): several real daemons on one
// redis-server of the test's own, talking over real sockets.

#include <csignal>
#include <map>
#include <set>
#include <thread>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/redis_server.hpp"
#include "../support/request_ok.hpp"
#include "../support/wait_for.hpp"
#include "proto/job.hpp"

using namespace taskpool::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Nodes of one cluster on a Redis of the test's own. Leases are short (2 s), so
/// that a lost node's jobs come back within the test.
struct ClusterSetup {
    json config = json::object();  // each node's, but for `cluster`
    RedisServer::Options redis = {};
    /// Tests that kill a node or Redis: the survivors log what they lost.
    bool expect_errors = false;
};

class Cluster {
public:
    explicit Cluster(int nodes, ClusterSetup setup = {})
        : setup_(std::move(setup)), redis_(setup_.redis) {
        for (int i = 0; i < nodes; ++i) {
            json config = setup_.config;
            config["cluster"] = {{"redis", redis_.url()}, {"name", "test"}, {"lease_s", 2}};
            nodes_.push_back(std::make_unique<DaemonProcess>(
                DaemonProcess::Options{.config = config, .expect_errors = setup_.expect_errors}));
        }
    }

    DaemonProcess& operator[](std::size_t i) { return *nodes_[i]; }
    RedisServer& redis() { return redis_; }

private:
    ClusterSetup setup_;
    RedisServer redis_;
    std::vector<std::unique_ptr<DaemonProcess>> nodes_;
};

/// The node id a daemon goes by in its cluster.
std::string node_id(DaemonProcess& d) {
    return LineClient(d.port()).request({{"op", "stats"}})["cluster"]["node"];
}

/// A node that runs nothing on its thread pool: jobs submitted to it run elsewhere.
void no_threads(DaemonProcess& d) {
    REQUIRE(LineClient(d.port()).request(
                {{"op", "resize"}, {"pool", "thread"}, {"size", 0}})["ok"] == true);
}

json get(LineClient& c, const std::string& id, double wait = 0) {
    return c.request({{"op", "get"}, {"job", id}, {"wait", wait}})["job"];
}

}  // namespace

TEST_CASE("cluster.a_job_submitted_on_one_node_runs_on_another_and_is_read_from_a_third" *
          doctest::timeout(60)) {
    Cluster cluster(3);
    no_threads(cluster[0]);
    no_threads(cluster[2]);
    LineClient a(cluster[0].port());
    LineClient c(cluster[2].port());
    auto job = submit(a, {{"task", "echo"}, {"args", {{"x", 1}}}, {"wait", 10}});
    CHECK(job["state"] == "succeeded");
    CHECK(job["node"] == node_id(cluster[1]));
    auto read = get(c, job["id"]);
    CHECK(read["result"] == json{{"x", 1}});
    CHECK(read["node"] == node_id(cluster[1]));
    auto listed = c.request({{"op", "list"}})["jobs"];
    REQUIRE(listed.size() == 1);
    CHECK(listed[0]["id"] == job["id"]);
    auto stats = c.request({{"op", "stats"}});
    CHECK(stats["jobs"]["succeeded"] == 1);
    CHECK(stats["cluster"]["nodes"].size() == 3);
    CHECK(stats["cluster"]["name"] == "test");
}

TEST_CASE("cluster.both_nodes_run_jobs_at_once" * doctest::timeout(60)) {
    Cluster cluster(2, {.config = {{"thread_pool", {{"size", 1}}}}});
    LineClient a(cluster[0].port());
    auto first = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 1}}}});
    auto second = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 1}}}});
    REQUIRE(wait_for([&] {
        return get(a, first["id"])["state"] == "running" &&
               get(a, second["id"])["state"] == "running";
    }));
    CHECK(get(a, first["id"])["node"] != get(a, second["id"])["node"]);
    CHECK(get(a, first["id"], 10)["state"] == "succeeded");
    CHECK(get(a, second["id"], 10)["state"] == "succeeded");
}

TEST_CASE("cluster.priority_then_arrival_across_nodes" * doctest::timeout(60)) {
    Cluster cluster(2, {.config = {{"thread_pool", {{"size", 1}}}}});
    no_threads(cluster[1]);
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    auto blocker = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 30}}}});
    REQUIRE(wait_for([&] { return get(a, blocker["id"])["state"] == "running"; }));
    LineClient watcher(cluster[0].port());
    watcher.request({{"op", "subscribe"}});
    // From both nodes, mixed priorities: they start by priority, then as they came.
    std::vector<std::pair<std::string, int>> sent = {{"a", 0}, {"b", 5},  {"c", 0}, {"d", -1},
                                                     {"e", 5}, {"f", 10}, {"g", 0}, {"h", -1}};
    for (std::size_t i = 0; i < sent.size(); ++i) {
        LineClient& via = i % 2 == 0 ? a : b;
        submit(via, {{"task", "echo"}, {"args", sent[i].first}, {"priority", sent[i].second}});
    }
    a.request({{"op", "cancel"}, {"job", blocker["id"]}});
    std::vector<std::string> started;
    while (started.size() < sent.size()) {
        auto e = watcher.read_json();
        if (e["event"] == "job.started" && e["job"]["task"] == "echo") {
            started.push_back(e["job"]["args"]);
        }
    }
    CHECK(started == std::vector<std::string>{"f", "b", "e", "a", "c", "g", "d", "h"});
}

TEST_CASE("cluster.a_map_runs_on_every_node_and_ends_once" * doctest::timeout(60)) {
    Cluster cluster(3, {.config = {{"thread_pool", {{"size", 1}}}}});
    LineClient a(cluster[0].port());
    LineClient watcher(cluster[2].port());
    watcher.request({{"op", "subscribe"}});
    json items = json::array();
    for (int i = 0; i < 60; ++i) {
        items.push_back({{"seconds", 0.02}});
    }
    auto reply = a.request({{"op", "map"}, {"task", "sleep"}, {"items", items}, {"notify", true}});
    REQUIRE(reply["ok"] == true);
    std::string batch = reply["batch"];
    std::set<std::string> nodes;
    int finished = 0;
    int batches = 0;
    while (batches == 0) {
        auto e = watcher.read_json();
        if (e["event"] == "job.finished") {
            ++finished;
            nodes.insert(e["job"]["node"].get<std::string>());
        } else if (e["event"] == "batch.finished") {
            CHECK(e["batch"] == batch);
            CHECK(e["counts"]["succeeded"] == 60);
            ++batches;
        }
    }
    CHECK(finished == 60);
    CHECK(nodes.size() == 3);
    // The notify on the submitting node: one batch.finished too.
    bool told = false;
    while (!told) {
        auto e = a.read_json();
        told = e["event"] == "batch.finished";
    }
    CHECK_FALSE(watcher.read_line(300ms));  // and no second one
}

TEST_CASE("cluster.a_short_job_writes_its_start_with_its_end_and_a_long_one_shows_running" *
          doctest::timeout(60)) {
    Cluster cluster(2);
    no_threads(cluster[0]);
    LineClient a(cluster[0].port());
    LineClient watcher(cluster[0].port());
    watcher.request({{"op", "subscribe"}});
    // Enough short runs for node 1 to hold their starts back, each to go with its end.
    std::set<std::string> ids;
    for (int i = 0; i < 200; ++i) {
        ids.insert(submit(a, {{"task", "echo"}, {"args", i}})["id"].get<std::string>());
    }
    std::map<std::string, std::vector<std::string>> seen;
    std::size_t finished = 0;
    while (finished < ids.size()) {
        auto e = watcher.read_json();
        std::string id = e["job"]["id"];
        REQUIRE(ids.contains(id));
        seen[id].push_back(e["event"]);
        finished += e["event"] == "job.finished" ? 1 : 0;
    }
    const std::vector<std::string> each_once{"job.started", "job.finished"};
    for (const auto& [id, events] : seen) {
        CHECK_MESSAGE(events == each_once, id);
    }
    auto stats = a.request({{"op", "stats"}})["jobs"];
    CHECK(stats["succeeded"] == 200);
    CHECK(stats["running"] == 0);
    CHECK(stats["queued"] == 0);

    // A run that goes on is written as running soon after it begins.
    auto slow = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 2}}}});
    auto began = std::chrono::steady_clock::now();
    REQUIRE(wait_for([&] { return job_of(a, slow["id"])["state"] == "running"; }));
    CHECK(std::chrono::steady_clock::now() - began < 1s);
    CHECK(a.request({{"op", "stats"}})["jobs"]["running"] == 1);
    CHECK(job_of(a, slow["id"], 10)["state"] == "succeeded");
}

TEST_CASE("cluster.subscribe_and_wait_on_one_node_see_a_job_end_on_another" *
          doctest::timeout(60)) {
    Cluster cluster(2);
    no_threads(cluster[0]);
    LineClient a(cluster[0].port());
    LineClient watcher(cluster[0].port());
    watcher.request({{"op", "subscribe"}});
    auto job = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 0.3}}}});
    LineClient waiter(cluster[0].port());
    waiter.send({{"op", "get"}, {"job", job["id"]}, {"wait", 10}});
    LineClient one(cluster[0].port());
    one.request({{"op", "subscribe"}, {"jobs", {job["id"]}}});
    int started = 0;
    int finished = 0;
    while (finished == 0) {
        auto e = watcher.read_json();
        started += e["event"] == "job.started" ? 1 : 0;
        finished += e["event"] == "job.finished" ? 1 : 0;
    }
    CHECK(started == 1);
    auto waited = waiter.read_json();
    CHECK(waited["job"]["state"] == "succeeded");
    CHECK(waited["job"]["node"] == node_id(cluster[1]));
    json told;
    while (told["event"] != "job.finished") {
        told = one.read_json();
    }
    CHECK(told["job"]["result"] == json{{"slept", 0.3}});
    CHECK_FALSE(watcher.read_line(300ms));  // each once
}

TEST_CASE("cluster.cancel_across_nodes" * doctest::timeout(60)) {
    Cluster cluster(2);
    no_threads(cluster[0]);
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    LineClient watcher(cluster[1].port());
    watcher.request({{"op", "subscribe"}});
    auto job = submit(b, {{"task", "sleep"}, {"args", {{"seconds", 30}}}});
    REQUIRE(wait_for([&] { return get(a, job["id"])["state"] == "running"; }));
    auto start = std::chrono::steady_clock::now();
    auto cancelled = a.request({{"op", "cancel"}, {"job", job["id"]}});
    CHECK(cancelled["job"]["state"] == "cancelled");
    CHECK(wait_for([&] { return b.request({{"op", "stats"}})["pools"]["thread"]["busy"] == 0; }));
    CHECK(std::chrono::steady_clock::now() - start < 1500ms);
    int finished = 0;
    while (finished == 0) {
        finished += watcher.read_json()["event"] == "job.finished" ? 1 : 0;
    }
    CHECK_FALSE(watcher.read_line(300ms));  // once
    CHECK(get(b, job["id"])["state"] == "cancelled");
    CHECK(a.request({{"op", "cancel"}, {"job", job["id"]}})["error"]["code"] == "not_cancellable");
    CHECK(a.request({{"op", "cancel"}, {"job", "j-nope"}})["error"]["code"] == "no_such_job");

    // A job bound to a connection on one node, running on another, ends with it.
    LineClient binder(cluster[0].port());
    auto bound = submit(binder, {{"task", "sleep"}, {"args", {{"seconds", 30}}}, {"bind", true}});
    REQUIRE(wait_for([&] { return get(a, bound["id"])["state"] == "running"; }));
    binder.shutdown_write();
    CHECK(get(b, bound["id"], 10)["state"] == "cancelled");
}

TEST_CASE("cluster.kv_incr_from_8_clients_on_2_nodes_sums_exactly" * doctest::timeout(60)) {
    Cluster cluster(2);
    constexpr int clients = 8;
    constexpr int each = 250;
    std::vector<std::thread> threads;
    std::vector<std::vector<std::int64_t>> seen(clients);
    for (int t = 0; t < clients; ++t) {
        threads.emplace_back([&, t] {
            LineClient c(cluster[t % 2].port());
            for (int i = 0; i < each; ++i) {
                seen[t].push_back(c.request({{"op", "kv.incr"}, {"key", "n"}, {"by", 1}})["value"]
                                      .get<std::int64_t>());
                // A cas loop on another key, from both nodes: no update lost either.
                for (;;) {
                    auto now = c.request({{"op", "kv.get"}, {"key", "m"}})["value"];
                    int next = now.is_null() ? 1 : now.get<int>() + 1;
                    auto r = c.request(
                        {{"op", "kv.cas"}, {"key", "m"}, {"expect", now}, {"value", next}});
                    if (r["swapped"] == true) {
                        break;
                    }
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    std::set<std::int64_t> all;
    for (const auto& values : seen) {
        all.insert(values.begin(), values.end());
    }
    CHECK(all.size() == clients * each);  // every reply distinct
    LineClient c(cluster[1].port());
    CHECK(c.request({{"op", "kv.get"}, {"key", "n"}})["value"] == clients * each);
    CHECK(c.request({{"op", "kv.get"}, {"key", "m"}})["value"] == clients * each);
    c.request({{"op", "kv.set"}, {"key", "s"}, {"value", "x"}});
    CHECK(c.request({{"op", "kv.incr"}, {"key", "s"}})["error"]["code"] == "bad_request");
    CHECK(c.request({{"op", "stats"}})["kv"]["keys"] == 3);
}

TEST_CASE("cluster.idempotency_keys_hold_across_nodes" * doctest::timeout(60)) {
    Cluster cluster(2);
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    // The same keys sent at once to both nodes: one job per key.
    std::string burst_a;
    std::string burst_b;
    for (int i = 0; i < 50; ++i) {
        auto line = json{{"op", "submit"},
                         {"id", i},
                         {"task", "echo"},
                         {"args", i},
                         {"key", "k" + std::to_string(i)}}
                        .dump() +
                    "\n";
        burst_a += line;
        burst_b += line;
    }
    a.send_raw(burst_a);
    b.send_raw(burst_b);
    for (int i = 0; i < 50; ++i) {
        auto x = a.read_reply();
        auto y = b.read_reply();
        CHECK(x["id"] == y["id"]);
        CHECK(x["job"]["id"] == y["job"]["id"]);
    }
    CHECK(a.request({{"op", "stats"}})["jobs"]["submitted"] == 50);
}

TEST_CASE("cluster.queue_max_size_and_block_s_hold_across_nodes" * doctest::timeout(60)) {
    Cluster cluster(2, {.config = {{"queue", {{"max_size", 3}}}}});
    no_threads(cluster[0]);
    no_threads(cluster[1]);
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    for (int i = 0; i < 3; ++i) {
        submit(a, {{"task", "echo"}});
    }
    CHECK(b.request({{"op", "submit"}, {"task", "echo"}})["error"]["code"] == "queue_full");
    b.send({{"op", "submit"}, {"id", "blocked"}, {"task", "echo"}, {"args", 4}, {"block_s", 10}});
    CHECK_FALSE(b.read_line(300ms));
    a.request({{"op", "resize"}, {"pool", "thread"}, {"size", 1}});  // the queue drains on a
    auto blocked = b.read_reply();
    CHECK(blocked["ok"] == true);
    CHECK(get(b, blocked["job"]["id"], 10)["result"] == 4);
}

TEST_CASE("cluster.remote_workers_on_any_node_take_from_the_shared_queue" * doctest::timeout(60)) {
    Cluster cluster(2);
    LineClient worker(cluster[1].port());
    REQUIRE(worker.request({{"op", "worker.register"},
                            {"tasks", {{{"name", "resize_image"}}}}})["ok"] == true);
    LineClient a(cluster[0].port());
    // Known on node a from node b's worker: accepted there, run by the worker.
    REQUIRE(wait_for([&] {
        return a.request({{"op", "tasks"}}).dump().find("resize_image") != std::string::npos;
    }));
    auto job = submit(a, {{"task", "resize_image"}, {"args", {{"w", 2}}}});
    auto assigned = worker.read_json();
    REQUIRE(assigned["event"] == "job.assign");
    CHECK(assigned["job"]["id"] == job["id"]);
    worker.request({{"op", "job.done"}, {"job", job["id"]}, {"result", 7}});
    CHECK(get(a, job["id"], 10)["result"] == 7);
}

TEST_CASE("cluster.a_killed_node_has_its_jobs_run_again_elsewhere" * doctest::timeout(60)) {
    Cluster cluster(2, {.expect_errors = true});
    no_threads(cluster[0]);
    REQUIRE(LineClient(cluster[1].port())
                .request({{"op", "resize"}, {"pool", "thread"}, {"size", 3}})["ok"] == true);
    LineClient a(cluster[0].port());
    auto retried = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 1}}}, {"retries", 1}});
    auto lost = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 1}}}});
    // A submit that waits keeps node 0's copy of its job from the submit on: when
    // the job comes back, node 0 must run it as Redis has it, its second attempt.
    LineClient waiting(cluster[0].port());
    waiting.send({{"op", "submit"},
                  {"task", "sleep"},
                  {"args", {{"seconds", 1}}},
                  {"retries", 1},
                  {"wait", true}});
    REQUIRE(wait_for([&] {
        return ok(a, {{"op", "list"}, {"state", "running"}})["jobs"].size() == 3;
    }));
    auto dead = node_id(cluster[1]);
    cluster[1].signal(SIGKILL);
    cluster[1].wait_exit(5s);
    a.request({{"op", "resize"}, {"pool", "thread"}, {"size", 2}});
    auto start = std::chrono::steady_clock::now();
    auto again = get(a, retried["id"], 15);
    CHECK(again["state"] == "succeeded");
    CHECK(again["attempts"] == 2);
    CHECK(again["node"] == node_id(cluster[0]));
    auto waited = waiting.read_reply(15s);
    CHECK(waited["job"]["state"] == "succeeded");
    CHECK(waited["job"]["attempts"] == 2);
    auto failed = get(a, lost["id"], 15);
    CHECK(failed["state"] == "failed");
    CHECK(failed["error"]["code"] == "lost");
    CHECK(failed["error"]["message"].get<std::string>().find(dead) != std::string::npos);
    // Within the lease (2 s) and a heartbeat (a third of it), and the rerun (1 s).
    CHECK(std::chrono::steady_clock::now() - start < 6s);
    auto nodes = a.request({{"op", "stats"}})["cluster"]["nodes"];
    CHECK(nodes.size() == 1);
}

TEST_CASE("cluster.jobs_due_later_come_due_once_on_any_node_and_outlive_their_node" *
          doctest::timeout(60)) {
    Cluster cluster(2, {.expect_errors = true});
    no_threads(cluster[1]);  // what is begun before the kill is begun on node a
    LineClient a(cluster[0].port());
    auto failed = submit(a, {{"task", "fail"}, {"wait", 10}});
    REQUIRE(failed["state"] == "failed");
    LineClient watcher(cluster[1].port());
    watcher.request({{"op", "subscribe"}});
    json items = json::array();
    for (int i = 0; i < 40; ++i) {
        items.push_back(i);
    }
    auto map = a.request({{"op", "map"}, {"task", "echo"}, {"items", items}, {"delay_s", 2}});
    REQUIRE(map["ok"] == true);
    auto backing_off = submit(a, {{"task", "fail"}, {"retries", 1}, {"retry_backoff_s", 1}});
    REQUIRE(wait_for([&] {
        auto job = get(a, backing_off["id"]);
        return job["state"] == "scheduled" && job["attempts"] == 1;
    }));
    CHECK(a.request({{"op", "stats"}})["jobs"]["scheduled"] == 41);

    // The node that took them dies; the other's timer moves them when they are due.
    cluster[0].signal(SIGKILL);
    cluster[0].wait_exit(5s);
    LineClient b(cluster[1].port());
    b.request({{"op", "resize"}, {"pool", "thread"}, {"size", 2}});
    for (const auto& job : map["jobs"]) {
        auto done = get(b, job["id"], 15);
        CHECK(done["state"] == "succeeded");
        CHECK(done["attempts"] == 1);
    }
    auto backed_off = get(b, backing_off["id"], 15);
    CHECK(backed_off["state"] == "failed");
    CHECK(backed_off["attempts"] == 2);
    CHECK(b.request({{"op", "stats"}})["jobs"]["scheduled"] == 0);
    // Each job began once, whichever node's timer fired first. (The first failed
    // job's own events may still come: a node hears its events back from Redis.)
    std::map<std::string, int> starts;
    int ends = 0;
    while (ends < 41) {
        auto e = watcher.read_json();
        if (e["job"]["id"] == failed["id"]) {
            continue;
        }
        if (e["event"] == "job.started") {
            ++starts[e["job"]["id"].get<std::string>()];
        } else if (e["event"] == "job.finished") {
            ++ends;
        }
    }
    CHECK(starts.size() == 41);
    for (const auto& [id, count] : starts) {
        CHECK_MESSAGE(count == (id == backing_off["id"] ? 2 : 1), id);
    }

    // A job that failed on the node that died is retried from the other.
    auto retried = b.request({{"op", "retry"}, {"job", failed["id"]}});
    REQUIRE_MESSAGE(retried["ok"] == true, retried.dump());
    auto again = get(b, failed["id"], 10);
    CHECK(again["state"] == "failed");
    CHECK(again["attempts"] == 2);
    CHECK(again["node"] == node_id(cluster[1]));
}

TEST_CASE("cluster.a_schedule_fires_once_a_time_whichever_nodes_are_up" * doctest::timeout(60)) {
    Cluster cluster(3, {.expect_errors = true});
    LineClient a(cluster[0].port());
    LineClient c(cluster[2].port());
    auto set =
        a.request({{"op", "schedule.set"}, {"name", "tick"}, {"task", "echo"}, {"every_s", 1}});
    REQUIRE_MESSAGE(set["ok"] == true, set.dump());
    // Every node has it, and fires it on its own timer.
    REQUIRE(wait_for([&] {
        return c.request({{"op", "schedule.list"}})["schedules"].size() == 1;
    }));
    auto fired = [&] {
        std::vector<json> jobs;
        auto listed = c.request({{"op", "list"}, {"limit", 1000}});
        for (const auto& job : listed["jobs"]) {
            if (job.value("schedule", "") == "tick") {
                jobs.push_back(job);
            }
        }
        return jobs;  // newest first
    };
    REQUIRE(wait_for([&] { return fired().size() >= 3; }, 10s));
    // The node it was set on dies: the others go on, and no time fires twice.
    cluster[0].signal(SIGKILL);
    cluster[0].wait_exit(5s);
    auto before = fired().size();
    REQUIRE(wait_for([&] { return fired().size() >= before + 3; }, 10s));
    auto jobs = fired();
    for (std::size_t i = 0; i + 1 < jobs.size(); ++i) {
        auto time = [](const json& job) {
            return taskpool::proto::parse_timestamp(job["submitted_at"].get<std::string>()).value();
        };
        auto gap = time(jobs[i]) - time(jobs[i + 1]);
        CHECK_MESSAGE(gap > 500ms, jobs[i].dump(), jobs[i + 1].dump());
    }
    // Each node lists it as Redis has it: its last firing is the newest job.
    LineClient b(cluster[1].port());
    REQUIRE(wait_for([&] {
        auto newest = fired().front()["id"];
        for (auto* node : {&b, &c}) {
            if (node->request({{"op", "schedule.list"}})["schedules"][0]["last_job"] != newest) {
                return false;
            }
        }
        return true;
    }));
    // Deleted on one node, it stops on every node.
    REQUIRE(b.request({{"op", "schedule.del"}, {"name", "tick"}})["ok"] == true);
    REQUIRE(wait_for([&] { return c.request({{"op", "schedule.list"}})["schedules"].empty(); }));
    auto count = fired().size();
    std::this_thread::sleep_for(1500ms);
    CHECK(fired().size() == count);
}

TEST_CASE("cluster.queue_limits_and_pauses_hold_across_nodes" * doctest::timeout(60)) {
    Cluster cluster(3, {.config = {{"thread_pool", {{"size", 4}}}}});
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    LineClient c(cluster[2].port());
    auto time = [](const json& t) {
        return std::chrono::duration<double>(taskpool::proto::parse_timestamp(t.get<std::string>())
                                                 .value()
                                                 .time_since_epoch())
            .count();
    };

    // Two at once, where each node has one thread: a second run is another node's.
    for (auto* node : {&a, &b, &c}) {
        ok(*node, {{"op", "resize"}, {"pool", "thread"}, {"size", 1}});
    }
    ok(a, {{"op", "queue.set"}, {"queue", "pair"}, {"max_concurrency", 2}});
    std::vector<std::string> pair;
    for (int i = 0; i < 8; ++i) {
        pair.push_back(
            submit(b, {{"task", "sleep"}, {"args", {{"seconds", 0.2}}}, {"queue", "pair"}})["id"]);
    }
    std::vector<std::pair<double, int>> edges;
    std::set<std::string> nodes;
    for (const auto& id : pair) {
        auto job = get(c, id, 20);
        REQUIRE(job["state"] == "succeeded");
        edges.emplace_back(time(job["started_at"]), 1);
        edges.emplace_back(time(job["finished_at"]), -1);
        nodes.insert(job["node"].get<std::string>());
    }
    std::sort(edges.begin(), edges.end());
    int running = 0, most = 0;
    for (auto [t, change] : edges) {
        most = std::max(most, running += change);
    }
    CHECK(most == 2);
    CHECK(nodes.size() > 1);
    for (auto* node : {&a, &b, &c}) {
        ok(*node, {{"op", "resize"}, {"pool", "thread"}, {"size", 4}});
    }

    // Five starts a second, counted for the cluster: the sixth waits for a token.
    ok(c, {{"op", "queue.set"}, {"queue", "rated"}, {"rate_limit", "5/s"}});
    std::vector<std::string> rated;
    for (int i = 0; i < 6; ++i) {
        rated.push_back(submit(i % 2 == 0 ? a : b, {{"task", "echo"}, {"queue", "rated"}})["id"]);
    }
    std::vector<double> starts;
    for (const auto& id : rated) {
        starts.push_back(time(get(c, id, 20)["started_at"]));
    }
    std::sort(starts.begin(), starts.end());
    CHECK(starts[5] - starts[0] > 0.15);  // the bucket holds 5; a token comes every 0.2 s

    // Paused on one node, a queue and a pool hold on every node.
    ok(c, {{"op", "pause"}, {"queue", "held"}});
    auto held = submit(a, {{"task", "echo"}, {"queue", "held"}});
    ok(a, {{"op", "pause"}, {"pool", "thread"}});
    auto unnamed = submit(b, {{"task", "echo"}});
    CHECK(b.request({{"op", "stats"}})["pools"]["thread"]["paused"] == true);
    std::this_thread::sleep_for(500ms);
    CHECK(get(c, held["id"])["state"] == "queued");
    CHECK(get(c, unnamed["id"])["state"] == "queued");
    auto listed = ok(a, {{"op", "queue.list"}})["queues"];
    REQUIRE(listed.size() == 3);
    CHECK(listed[0]["name"] == "held");
    CHECK(listed[0]["paused"] == true);
    CHECK(listed[0]["queued"] == 1);
    ok(b, {{"op", "resume"}, {"pool", "thread"}});
    CHECK(get(c, unnamed["id"], 10)["state"] == "succeeded");
    CHECK(get(c, held["id"])["state"] == "queued");
    ok(b, {{"op", "resume"}, {"queue", "held"}});
    CHECK(get(c, held["id"], 10)["state"] == "succeeded");
}

TEST_CASE("cluster.a_lost_nodes_runs_give_their_queue_slots_back" * doctest::timeout(60)) {
    Cluster cluster(2, {.expect_errors = true});
    no_threads(cluster[1]);
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    ok(a, {{"op", "queue.set"}, {"queue", "one"}, {"max_concurrency", 1}});
    auto first = submit(
        a, {{"task", "sleep"}, {"args", {{"seconds", 1}}}, {"queue", "one"}, {"retries", 1}});
    REQUIRE(wait_for([&] { return get(a, first["id"])["state"] == "running"; }));
    auto second = submit(b, {{"task", "echo"}, {"queue", "one"}});
    cluster[0].signal(SIGKILL);
    cluster[0].wait_exit(5s);
    b.request({{"op", "resize"}, {"pool", "thread"}, {"size", 2}});
    auto again = get(b, first["id"], 20);
    CHECK(again["state"] == "succeeded");
    CHECK(again["attempts"] == 2);
    CHECK(get(b, second["id"], 20)["state"] == "succeeded");
    auto queue = ok(b, {{"op", "queue.list"}})["queues"][0];
    CHECK(queue["running"] == 0);
    CHECK(queue["queued"] == 0);
}

TEST_CASE("cluster.dependencies_and_follow_ups_hold_across_nodes" * doctest::timeout(60)) {
    Cluster cluster(2);
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    LineClient watcher(cluster[0].port());
    ok(watcher, {{"op", "subscribe"}});

    // A chain across nodes runs in order.
    auto parent = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 0.3}}}});
    auto child = submit(b, {{"task", "echo"}, {"args", "child"}, {"after", {parent["id"]}}});
    CHECK(child["state"] == "waiting");
    auto grandchild = submit(a, {{"task", "echo"}, {"after", {child["id"]}}});
    CHECK(get(b, grandchild["id"], 10)["state"] == "succeeded");
    CHECK(get(b, child["id"])["started_at"] >= get(b, parent["id"])["finished_at"]);
    CHECK(b.request({{"op", "stats"}})["jobs"]["waiting"] == 0);

    // A failure cancels the chain below it, wherever its jobs were submitted.
    auto failing = submit(b, {{"task", "sleep"}, {"args", {{"seconds", 5}}}, {"timeout_s", 0.3}});
    auto below = submit(a, {{"task", "echo"}, {"after", {failing["id"]}}});
    auto further = submit(b, {{"task", "echo"}, {"after", {below["id"]}}});
    auto end = get(a, further["id"], 10);
    CHECK(end["state"] == "cancelled");
    CHECK(end["error"]["code"] == "dependency_failed");
    CHECK(get(a, below["id"])["error"]["message"] ==
          "job " + failing["id"].get<std::string>() + " failed");
    auto late = submit(a, {{"task", "echo"}, {"after", {failing["id"]}}});
    CHECK(late["state"] == "cancelled");
    CHECK(b.request({{"op", "submit"}, {"task", "echo"}, {"after", {"j-nope"}}})["error"]["code"] ==
          "no_such_job");

    // A map's follow-up, once for the batch, with the results in item order.
    auto map = ok(b, {{"op", "map"},
                      {"task", "echo"},
                      {"items", {1, 2, 3, 4, 5, 6}},
                      {"then", {{"task", "echo"}, {"args", {{"from", "map"}}}}}});
    std::set<std::string> ended_on;
    json batch_end;
    std::map<std::string, int> finished;
    while (batch_end.is_null()) {
        auto e = watcher.read_json();
        if (e["event"] == "batch.finished" && e["batch"] == map["batch"]) {
            batch_end = e;
        } else if (e["event"] == "job.finished") {
            ++finished[e["job"]["id"].get<std::string>()];
        }
    }
    for (const auto& [id, times] : finished) {
        CHECK_MESSAGE(times == 1, id);
    }
    CHECK(finished.contains(further["id"].get<std::string>()));  // cancelled, told once
    REQUIRE(batch_end.contains("then_job"));
    auto follow_up = get(a, batch_end["then_job"], 10);
    CHECK(follow_up["state"] == "succeeded");
    CHECK(follow_up["args"] == json{{"from", "map"}, {"results", {1, 2, 3, 4, 5, 6}}});
}

TEST_CASE("cluster.a_follow_up_a_node_left_is_submitted_by_another" * doctest::timeout(60)) {
    Cluster cluster(1);
    LineClient a(cluster[0].port());
    // As a node that died after it ended a map, before it submitted the follow-up,
    // leaves it: the map's results wait in Redis.
    auto redis = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"redis-cli", "-p", std::to_string(cluster.redis().port())});
        auto ran = run_command(args);
        REQUIRE_MESSAGE(ran.exit_code == 0, ran.err);
        return ran.out;
    };
    redis({"HSET", "tp:{test}:follow:b-left", "then", R"({"task": "echo"})", "results", "[7,8]",
           "by", ""});
    redis({"ZADD", "tp:{test}:follows", "0", "b-left"});
    std::vector<json> follow_ups;
    REQUIRE(wait_for([&] {
        follow_ups.clear();
        auto listed = ok(a, {{"op", "list"}});
        for (const auto& job : listed["jobs"]) {
            follow_ups.push_back(job);
        }
        return !follow_ups.empty();
    }));
    CHECK(follow_ups[0]["args"] == json{{"results", {7, 8}}});
    std::this_thread::sleep_for(1500ms);  // two more heartbeats: none takes it again
    CHECK(ok(a, {{"op", "list"}})["jobs"].size() == 1);
    CHECK(redis({"ZCARD", "tp:{test}:follows"}) == "0\n");
}

TEST_CASE("cluster.a_drain_leaves_the_queue_to_the_others" * doctest::timeout(60)) {
    Cluster cluster(2, {.config = {{"thread_pool", {{"size", 1}}}}});
    no_threads(cluster[1]);
    LineClient a(cluster[0].port());
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) {
        ids.push_back(submit(a, {{"task", "sleep"}, {"args", {{"seconds", 0.3}}}})["id"]);
    }
    REQUIRE(wait_for([&] { return get(a, ids[0])["state"] == "running"; }));
    cluster[0].signal(SIGTERM);
    CHECK(cluster[0].wait_exit(10s) == 0);
    LineClient b(cluster[1].port());
    CHECK(get(b, ids[0])["state"] == "succeeded");
    b.request({{"op", "resize"}, {"pool", "thread"}, {"size", 1}});
    for (const auto& id : ids) {
        CHECK(get(b, id, 10)["state"] == "succeeded");
    }
    CHECK(b.request({{"op", "stats"}})["cluster"]["nodes"].size() == 1);  // it left at once
}

TEST_CASE("cluster.config_errors_say_what_to_do_and_never_show_the_password" *
          doctest::timeout(30)) {
    auto both = run_command({binary_path("taskpoold"), "--check-config"},
                            {{"TASKPOOL_CLUSTER_REDIS", "redis://127.0.0.1:6379"},
                             {"TASKPOOL_STORE_PATH", "/tmp/x.db"}});
    CHECK(both.exit_code == 2);
    CHECK(both.err.find("store.path") != std::string::npos);
    auto tls = run_command({binary_path("taskpoold"), "--check-config"},
                           {{"TASKPOOL_CLUSTER_REDIS", "rediss://127.0.0.1:6379"}});
    CHECK(tls.exit_code == 2);
    auto shown = run_command({binary_path("taskpoold"), "--check-config"},
                             {{"TASKPOOL_CLUSTER_REDIS", "redis://:hunter2@127.0.0.1:6379"}});
    CHECK(shown.exit_code == 0);
    CHECK(shown.out.find("hunter2") == std::string::npos);
    // Nothing listening: one line saying so, and exit 1.
    auto none = run_command({binary_path("taskpoold"), "--listen", "127.0.0.1:0"},
                            {{"TASKPOOL_CLUSTER_REDIS", "redis://:hunter2@127.0.0.1:1"}});
    CHECK(none.exit_code == 1);
    CHECK(none.out.find("cluster.redis") != std::string::npos);
    CHECK(none.out.find("hunter2") == std::string::npos);
}

TEST_CASE("cluster.a_node_of_another_layout_is_refused_and_told_what_to_do" *
          doctest::timeout(30)) {
    RedisServer redis;
    auto redis_cli = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {"redis-cli", "-p", std::to_string(redis.port())});
        auto ran = run_command(args);
        REQUIRE_MESSAGE(ran.exit_code == 0, ran.err);
        return ran.out;
    };
    redis_cli({"SET", "tp:{newer}:layout", "99"});
    redis_cli({"SET", "tp:{older}:seq", "12"});  // jobs from before layouts were marked
    for (std::string name : {"newer", "older"}) {
        auto refused =
            run_command({binary_path("taskpoold"), "--listen", "127.0.0.1:0"},
                        {{"TASKPOOL_CLUSTER_REDIS", redis.url()}, {"TASKPOOL_CLUSTER_NAME", name}});
        CHECK(refused.exit_code == 1);
        CHECK(refused.out.find(name == "newer" ? "layout 99" : "layout 1") != std::string::npos);
        CHECK(refused.out.find("new cluster.name") != std::string::npos);
    }
    // A new name starts a cluster of this node's layout, which its next node shares.
    json config = {{"cluster", {{"redis", redis.url()}, {"name", "fresh"}}}};
    DaemonProcess first({.config = config});
    CHECK_FALSE(redis_cli({"GET", "tp:{fresh}:layout"}).empty());
    DaemonProcess second({.config = config});
    LineClient c(second.port());
    CHECK(
        ok(c, {{"op", "submit"}, {"task", "echo"}, {"args", 5}, {"wait", true}})["job"]["result"] ==
        5);
}

namespace {

int healthz(std::uint16_t port) {
    LineClient http(port);
    http.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    auto response = http.read_http_response();
    REQUIRE(response);
    return response->status;
}

}  // namespace

TEST_CASE("cluster.a_jobs_lines_go_out_only_where_some_node_reads_them" * doctest::timeout(60)) {
    Cluster cluster(2);
    LineClient channel(cluster.redis().port());  // the events' channel, as RESP
    channel.send_raw("SUBSCRIBE tp:{test}:ev\r\n");
    auto carried = [&] {  // until it has been quiet for a while
        std::string all;
        while (auto line = channel.read_line(300ms)) {
            all += *line + "\n";
        }
        return all;
    };
    auto times = [](const std::string& text, std::string_view what) {
        int n = 0;
        for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
            ++n;
        }
        return n;
    };
    auto three_jobs = [](LineClient& c) {
        for (int i = 0; i < 3; ++i) {
            CHECK(ok(c, {{"op", "submit"},
                         {"task", "echo"},
                         {"args", i},
                         {"wait", true}})["job"]["result"] == i);
        }
    };
    carried();
    // Node 1 runs what node 0 submits: the ends go out, for node 0's waits; the
    // starts, which no node reads, do not.
    no_threads(cluster[0]);
    LineClient a(cluster[0].port());
    three_jobs(a);
    auto across = carried();
    CHECK(times(across, "job.finished") == 3);
    CHECK(times(across, "job.started") == 0);
    // A node that runs what it submits tells no one.
    LineClient b(cluster[1].port());
    three_jobs(b);
    CHECK(times(carried(), "job.") == 0);
    // Once a node has a subscriber, every line goes out: its own jobs' too, which
    // its subscriber hears back from Redis.
    LineClient watcher(cluster[1].port());
    watcher.request({{"op", "subscribe"}});
    auto id = ok(b, {{"op", "submit"}, {"task", "echo"}, {"args", 7}, {"wait", true}})["job"]["id"];
    auto heard = carried();
    CHECK(times(heard, "job.started") == 1);
    CHECK(times(heard, "job.finished") == 1);
    json told;
    while (told["event"] != "job.finished") {
        told = watcher.read_json();
    }
    CHECK(told["job"]["id"] == id);
}

TEST_CASE("cluster.waits_and_watches_on_another_nodes_job_hear_its_end" * doctest::timeout(60)) {
    Cluster cluster(2);
    no_threads(cluster[1]);  // node 0 runs what either submits
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    // A job node 0 submits and runs itself: with no node hearing every line, its
    // end is published for node 1 only once node 1 waits on it.
    auto job = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 0.5}}}});
    auto waited = ok(b, {{"op", "get"}, {"job", job["id"]}, {"wait", 20}})["job"];
    CHECK(waited["state"] == "succeeded");
    // A watch on node 1 of a job it submits hears its start too.
    auto events =
        b.submit_and_follow({{"op", "submit"}, {"task", "echo"}, {"args", 3}, {"notify", true}});
    std::vector<std::string> kinds;
    for (const auto& e : events) {
        if (e.contains("event")) {
            kinds.push_back(e["event"]);
        }
    }
    CHECK(kinds == std::vector<std::string>{"job.started", "job.finished"});
}

TEST_CASE("cluster.redis_away_gives_unavailable_and_503_and_everything_comes_back" *
          doctest::timeout(60)) {
    Cluster cluster(1, {.redis = {.append_only = true}, .expect_errors = true});
    LineClient c(cluster[0].port());
    auto done = submit(c, {{"task", "echo"}, {"wait", 10}});  // not held by the node now
    auto running = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 1.5}}}});
    REQUIRE(wait_for([&] { return get(c, running["id"])["state"] == "running"; }));
    LineClient waiter(cluster[0].port());
    waiter.send({{"op", "get"}, {"job", running["id"]}, {"wait", 30}});
    // Answered before the wait is: the wait is in place before Redis goes.
    waiter.send({{"op", "ping"}});
    REQUIRE(waiter.read_json()["pong"] == true);

    cluster.redis().kill();
    // A pending wait is answered with the job as last known.
    CHECK(waiter.read_json()["job"]["state"] == "running");
    REQUIRE(wait_for([&] { return healthz(cluster[0].port()) == 503; }));
    for (const json& needs_redis :
         {json{{"op", "submit"}, {"task", "echo"}}, json{{"op", "get"}, {"job", done["id"]}},
          json{{"op", "list"}}, json{{"op", "stats"}}, json{{"op", "kv.get"}, {"key", "k"}},
          json{{"op", "cancel"}, {"job", done["id"]}},
          // Even of the job this node runs: a wait would last until Redis is back.
          json{{"op", "get"}, {"job", running["id"]}, {"wait", 5}}}) {
        CAPTURE(needs_redis);
        auto asked = std::chrono::steady_clock::now();
        CHECK(c.request(needs_redis)["error"]["code"] == "unavailable");
        CHECK(std::chrono::steady_clock::now() - asked < 1s);
    }
    CHECK(c.request({{"op", "ping"}})["pong"] == true);
    CHECK(c.request({{"op", "tasks"}})["ok"] == true);
    std::this_thread::sleep_for(2s);  // the job ends while Redis is away

    cluster.redis().start();  // the same port and files: AOF brings the jobs back
    REQUIRE(wait_for([&] { return healthz(cluster[0].port()) == 200; }));
    auto ended = get(c, running["id"], 10);
    CHECK(ended["state"] == "succeeded");  // its end, written once Redis was back
    CHECK(ended["attempts"] == 1);
    CHECK(get(c, submit(c, {{"task", "echo"}, {"args", 5}})["id"], 10)["result"] == 5);

    // A Redis that hangs: unavailable within the reply timeout (2 s), not a hang.
    cluster.redis().pause();
    auto start = std::chrono::steady_clock::now();
    CHECK(c.request({{"op", "submit"}, {"task", "echo"}})["error"]["code"] == "unavailable");
    CHECK(std::chrono::steady_clock::now() - start < 4s);
    cluster.redis().resume();
    REQUIRE(wait_for([&] { return healthz(cluster[0].port()) == 200; }));
    CHECK(get(c, submit(c, {{"task", "echo"}, {"args", 6}})["id"], 10)["result"] == 6);
}

TEST_CASE("cluster.a_redis_killed_and_restarted_with_aof_loses_no_acknowledged_job" *
          doctest::timeout(90)) {
    Cluster cluster(2, {.config = {{"thread_pool", {{"size", 1}}}},
                        .redis = {.append_only = true},
                        .expect_errors = true});
    LineClient a(cluster[0].port());
    LineClient b(cluster[1].port());
    auto long_one = submit(a, {{"task", "sleep"}, {"args", {{"seconds", 2}}}});
    std::vector<std::string> acked;
    for (int i = 0; i < 100; ++i) {
        LineClient& via = i % 2 == 0 ? a : b;
        acked.push_back(submit(via, {{"task", "sleep"}, {"args", {{"seconds", 0.01}}}})["id"]);
    }
    REQUIRE(wait_for([&] { return get(a, long_one["id"])["state"] == "running"; }));
    cluster.redis().kill();
    std::this_thread::sleep_for(500ms);
    cluster.redis().start();
    REQUIRE(wait_for(
        [&] { return healthz(cluster[0].port()) == 200 && healthz(cluster[1].port()) == 200; }));
    for (const auto& id : acked) {
        CAPTURE(id);
        CHECK(get(b, id, 30)["state"] == "succeeded");
    }
    auto through = get(a, long_one["id"], 30);
    CHECK(through["state"] == "succeeded");
    CHECK(through["attempts"] == 1);  // ran once, through the restart
    CHECK(b.request({{"op", "stats"}})["jobs"]["succeeded"] == 101);
}
