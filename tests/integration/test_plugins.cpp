// Plugin tasks: the example plugin on both pools, and plugins that fail to load.
#include <fstream>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/temp_dir.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json plugin_config() {
    return {{"process_pool", {{"size", 2}}}, {"plugins", {TASKPOOL_EXAMPLE_PLUGIN_PATH}}};
}

json submit_and_wait(LineClient& c, json request) {
    request["op"] = "submit";
    request["wait"] = 30;
    return c.request(request, 40s);
}

/// Starts taskpoold with `plugins` and returns what it printed and its exit code.
CommandResult start_with_plugins(const json& plugins) {
    TempDir dir;
    auto path = (dir.path() / "c.json").string();
    std::ofstream(path) << json{{"listen", "127.0.0.1:0"}, {"plugins", plugins}}.dump();
    return run_command({binary_path("taskpoold"), "--config", path});
}

}  // namespace

TEST_CASE("plugin.tasks_run_on_both_pools" * doctest::timeout(30)) {
    DaemonProcess d({.config = plugin_config()});
    LineClient c(d.port());
    // Its default pool is thread: the daemon's own process runs it.
    auto job = submit_and_wait(c, {{"task", "upper"}, {"args", {{"text", "abc"}}}})["job"];
    CHECK(job["pool"] == "thread");
    CHECK(job["result"]["text"] == "ABC");
    CHECK(job["result"]["pid"] == d.pid());
    // On the process pool, a worker loaded the plugin too.
    job = submit_and_wait(
        c, {{"task", "upper"}, {"pool", "process"}, {"args", {{"text", "xyz"}}}})["job"];
    CHECK(job["result"]["text"] == "XYZ");
    CHECK(job["result"]["pid"] != d.pid());
    CHECK(job["result"]["pid"] == job["worker"]["pid"]);
}

TEST_CASE("plugin.errors_are_bad_request_or_task_error" * doctest::timeout(30)) {
    DaemonProcess d({.config = plugin_config()});
    LineClient c(d.port());
    // Its check refuses at submit time.
    auto reply = submit_and_wait(c, {{"task", "upper"}, {"args", {{"text", 5}}}});
    CHECK(reply["error"]["code"] == "bad_request");
    CHECK(reply["error"]["message"] == "field 'args.text' must be a string");
    // A throw from run fails the job, on the pool it names (process).
    auto job = submit_and_wait(c, {{"task", "refuse"}})["job"];
    CHECK(job["pool"] == "process");
    CHECK(job["error"]["code"] == "task_error");
    CHECK(job["error"]["message"] == "refused by the example plugin");
    auto tasks = c.request({{"op", "tasks"}})["tasks"];
    int plugin_tasks = 0;
    for (const auto& t : tasks) {
        plugin_tasks += t["kind"] == "plugin" ? 1 : 0;
    }
    CHECK(plugin_tasks == 3);
}

TEST_CASE("plugin.one_that_fails_to_load_is_one_clear_startup_error" * doctest::timeout(30)) {
    auto r = start_with_plugins({"/no/such/plugin.so"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("plugin /no/such/plugin.so: ") != std::string::npos);
    CHECK(r.out.find("No such file") != std::string::npos);
    // A library that is not a plugin.
    r = start_with_plugins({"libm.so.6"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("not a taskpool plugin") != std::string::npos);
    // The same plugin twice: its tasks would clash.
    r = start_with_plugins({TASKPOOL_EXAMPLE_PLUGIN_PATH, TASKPOOL_EXAMPLE_PLUGIN_PATH});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("is already defined") != std::string::npos);
}

TEST_CASE("plugin.progress_reaches_the_job_and_its_watchers_on_both_pools" * doctest::timeout(30)) {
    DaemonProcess d({.config = plugin_config()});
    LineClient c(d.port());
    for (const char* pool : {"thread", "process"}) {
        CAPTURE(pool);
        auto lines =
            c.submit_and_follow({{"task", "count"}, {"pool", pool}, {"args", {{"n", 500}}}});
        REQUIRE(lines.front()["ok"] == true);
        // A task that tells its progress in a tight loop is told in fewer events,
        // the last of them its last word, and before the job ends.
        std::vector<json> progress;
        for (const auto& line : lines) {
            if (line.value("event", "") == "job.progress") {
                CHECK(line["job"] == lines.front()["job"]["id"]);
                progress.push_back(line["progress"]);
            }
        }
        REQUIRE(!progress.empty());
        CHECK(progress.size() <= 500);
        CHECK(progress.back() == json{{"done", 500}, {"of", 500}});
        const auto& finished = lines.back();
        CHECK(finished["event"] == "job.finished");
        CHECK(finished["job"]["result"] == 500);
        CHECK(finished["job"]["progress"] == json{{"done", 500}, {"of", 500}});
    }
}
