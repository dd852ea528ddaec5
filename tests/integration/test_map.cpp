// map: many jobs at once, all or none, results in input order, batch events.
#include <algorithm>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// `check_ok` exits 0 for "ok" and 1 for anything else: failures mixed in at will.
const json map_config = {
    {"thread_pool", {{"size", 2}}},
    {"tasks", {{"check_ok", {{"command", {"test", "{v}", "=", "ok"}}, {"pool", "thread"}}}}}};

json items_of(const std::vector<std::string>& values) {
    json items = json::array();
    for (const auto& v : values) {
        items.push_back({{"v", v}});
    }
    return items;
}

}  // namespace

TEST_CASE("map.results_in_input_order_with_failures_mixed_in" * doctest::timeout(60)) {
    DaemonProcess d({.config = map_config});
    LineClient c(d.port());
    // Sleeps that finish in the reverse of their order.
    auto reply = c.request({{"op", "map"},
                            {"task", "sleep"},
                            {"items", {{{"seconds", 0.3}}, {{"seconds", 0.2}}, {{"seconds", 0}}}},
                            {"wait", true}},
                           30s);
    REQUIRE(reply["ok"] == true);
    auto batch = reply["batch"].get<std::string>();
    CHECK(batch.rfind("b-", 0) == 0);
    REQUIRE(reply["jobs"].size() == 3);
    CHECK(reply["jobs"][0]["result"]["slept"] == 0.3);
    CHECK(reply["jobs"][1]["result"]["slept"] == 0.2);
    CHECK(reply["jobs"][2]["result"]["slept"] == 0);
    for (const auto& job : reply["jobs"]) {
        CHECK(job["batch"] == batch);
    }

    auto values = std::vector<std::string>{"ok", "no", "ok", "ok", "bad", "ok"};
    reply = c.request(
        {{"op", "map"}, {"task", "check_ok"}, {"items", items_of(values)}, {"wait", 30}}, 40s);
    REQUIRE(reply["jobs"].size() == values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        const auto& job = reply["jobs"][i];
        CHECK(job["args"]["v"] == values[i]);
        CHECK(job["state"] == (values[i] == "ok" ? "succeeded" : "failed"));
    }
}

TEST_CASE("map.notify_sends_each_job_then_the_batch" * doctest::timeout(60)) {
    DaemonProcess d({.config = map_config});
    LineClient c(d.port());
    LineClient watcher(d.port());
    CHECK(watcher.request({{"op", "subscribe"}})["ok"] == true);
    auto values = std::vector<std::string>{"ok", "no", "ok", "ok"};
    auto reply = c.request(
        {{"op", "map"}, {"task", "check_ok"}, {"items", items_of(values)}, {"notify", true}});
    REQUIRE(reply["ok"] == true);
    auto batch = reply["batch"];
    CHECK(reply["jobs"][0]["state"] == "queued");

    // This connection: job.started and job.finished for each job, batch.finished last.
    int finished = 0;
    std::string job_finished_at;
    json last;
    for (;;) {
        last = c.read_json(20s);
        if (last["event"] == "batch.finished") {
            break;
        }
        if (last["event"] == "job.finished") {
            ++finished;
            job_finished_at =
                std::max(job_finished_at, last["job"]["finished_at"].get<std::string>());
        }
        CHECK(last["job"]["batch"] == batch);
    }
    CHECK(finished == 4);
    // When the batch finished: no earlier than its last job.
    CHECK(last["finished_at"].get<std::string>() >= job_finished_at);
    last.erase("finished_at");
    CHECK(last == json{{"event", "batch.finished"},
                       {"batch", batch},
                       {"counts", {{"succeeded", 3}, {"failed", 1}, {"cancelled", 0}}}});
    // A subscriber of every job gets the batch event too.
    for (;;) {
        auto event = watcher.read_json(20s);
        if (event["event"] == "batch.finished") {
            CHECK(event["batch"] == batch);
            break;
        }
    }
}

TEST_CASE("map.takes_all_items_or_none" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"queue", {{"max_size", 5}}}}});
    LineClient c(d.port());
    // One bad item refuses the whole map, naming it.
    auto reply = c.request(
        {{"op", "map"}, {"task", "fib"}, {"items", {{{"n", 1}}, {{"n", 2}}, {{"n", "x"}}}}});
    CHECK(reply["error"]["code"] == "bad_request");
    CHECK(reply["error"]["message"].get<std::string>().rfind("items[2]: field 'args.n'", 0) == 0);
    CHECK(c.request({{"op", "stats"}})["jobs"]["submitted"] == 0);

    // More items than the queue holds: queue_full at once, even with block_s.
    json six = json::array();
    for (int i = 0; i < 6; ++i) {
        six.push_back({{"seconds", 0}});
    }
    reply = c.request({{"op", "map"}, {"task", "sleep"}, {"items", six}, {"block_s", 5}});
    CHECK(reply["error"]["code"] == "queue_full");

    // Room for some but not all: queue_full, or a wait for room for all with block_s.
    c.request({{"op", "resize"}, {"pool", "thread"}, {"size", 0}});
    json three = {{{"seconds", 0}}, {{"seconds", 0}}, {{"seconds", 0}}};
    CHECK(c.request({{"op", "map"}, {"task", "sleep"}, {"items", three}})["ok"] == true);
    reply = c.request({{"op", "map"}, {"task", "sleep"}, {"items", three}});
    CHECK(reply["error"]["code"] == "queue_full");
    CHECK(c.request({{"op", "stats"}})["jobs"]["submitted"] == 3);
    c.send({{"op", "map"}, {"id", 7}, {"task", "sleep"}, {"items", three}, {"block_s", 10}});
    CHECK_FALSE(c.read_line(300ms));  // blocked: 3 queued + 3 > 5
    c.send({{"op", "resize"}, {"pool", "thread"}, {"size", 2}});
    auto first = c.read_json();
    auto second = c.read_json();
    auto blocked = first.contains("batch") ? first : second;
    CHECK(blocked["id"] == 7);
    CHECK(blocked["jobs"].size() == 3);

    // A key is a submit option only.
    reply = c.request({{"op", "map"}, {"task", "echo"}, {"items", {1}}, {"key", "k"}});
    CHECK(reply["error"]["code"] == "bad_request");
    reply = c.request({{"op", "map"}, {"task", "echo"}, {"items", json::array()}});
    CHECK(reply["error"]["code"] == "bad_request");
    reply = c.request({{"op", "map"}, {"task", "nope"}, {"items", {1}}});
    CHECK(reply["error"]["code"] == "no_such_task");
}

TEST_CASE("map.bind_cancels_every_job_when_the_connection_closes" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 1}}}}});
    LineClient watcher(d.port());
    std::string batch;
    {
        LineClient c(d.port());
        auto reply = c.request({{"op", "map"},
                                {"task", "sleep"},
                                {"items", {{{"seconds", 60}}, {{"seconds", 60}}}},
                                {"bind", true}});
        batch = reply["batch"];
        CHECK(watcher.request({{"op", "subscribe"}})["ok"] == true);
    }
    for (;;) {
        auto event = watcher.read_json(20s);
        if (event["event"] == "batch.finished") {
            CHECK(event["batch"] == batch);
            CHECK(event["counts"]["cancelled"] == 2);
            break;
        }
    }
}

TEST_CASE("map.a_reply_too_large_to_send_is_refused_before_anything_is_accepted" *
          doctest::timeout(60)) {
    json many = json::array();
    for (int i = 0; i < 100000; ++i) {
        many.push_back(i);
    }
    // On the defaults: 100,000 small items fit in a line, their 20 MB reply does not.
    DaemonProcess d;
    LineClient c(d.port());
    auto reply = c.request({{"op", "map"}, {"id", 1}, {"task", "echo"}, {"items", many}});
    CHECK(reply["id"] == 1);
    CHECK(reply["error"]["code"] == "message_too_large");
    auto message = reply["error"]["message"].get<std::string>();
    CHECK(message.find("nothing was accepted") != std::string::npos);
    CHECK(message.find("limits.max_output_buffer_bytes") != std::string::npos);
    CHECK(c.request({{"op", "stats"}})["jobs"]["submitted"] == 0);

    // The refusal is a floor: a map it lets through is not much smaller than that.
    DaemonProcess small({.config = {{"limits", {{"max_output_buffer_bytes", 65536}}}}});
    LineClient s(small.port());
    json hundred(many.begin(), many.begin() + 100);
    s.send({{"op", "map"}, {"task", "echo"}, {"items", hundred}});
    auto line = s.read_line();
    REQUIRE(line);
    CHECK(json::parse(*line)["ok"] == true);
    CHECK(line->size() >= 100 * (190 + std::string("echo").size()));
    json thousand(many.begin(), many.begin() + 1000);
    reply = s.request({{"op", "map"}, {"task", "echo"}, {"items", thousand}});
    CHECK(reply["error"]["code"] == "message_too_large");
    CHECK(s.request({{"op", "stats"}})["jobs"]["submitted"] == 100);
}
