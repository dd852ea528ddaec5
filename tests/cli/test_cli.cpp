// The real taskpool binary against the real daemon: output, --json, exit codes.
#include <csignal>
#include <fstream>
#include <future>
#include <iterator>
#include <regex>
#include <sstream>
#include <thread>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/proc.hpp"
#include "../support/temp_dir.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

CommandResult cli(const DaemonProcess& d, std::vector<std::string> args,
                  std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), binary_path("taskpool"));
    env.emplace("TASKPOOL_ADDR", d.address());
    return run_command(args, env);
}

}  // namespace

TEST_CASE("cli.submit_prints_the_result_and_exits_0" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = cli(d, {"submit", "fib", R"({"n":20})"});
    CHECK(r.exit_code == 0);
    CHECK(json::parse(r.out) == json{{"n", 20}, {"value", 6765}});
    auto text = cli(d, {"submit", "echo", R"("hello")"});
    CHECK(text.out == "hello\n");
}

TEST_CASE("cli.json_output_is_the_job" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = cli(d, {"--json", "submit", "echo", "[1,2]"});
    CHECK(r.exit_code == 0);
    auto job = json::parse(r.out);
    CHECK(job["state"] == "succeeded");
    CHECK(job["result"] == json{1, 2});
    auto list = cli(d, {"--json", "list"});
    CHECK(json::parse(list.out).size() == 1);
    auto tasks = cli(d, {"--json", "tasks"});
    CHECK(json::parse(tasks.out).size() == 5);
    auto stats = cli(d, {"--json", "stats"});
    CHECK(json::parse(stats.out)["jobs"]["succeeded"] == 1);
    CHECK(json::parse(cli(d, {"--json", "ping"}).out)["pong"] == true);
}

TEST_CASE("cli.failed_job_exits_1_with_the_reason_on_stderr" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = cli(d, {"submit", "fail", R"({"message":"disk on fire"})"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    CHECK(r.err.find("task_error: disk on fire") != std::string::npos);
}

TEST_CASE("cli.usage_errors_exit_2" * doctest::timeout(30)) {
    DaemonProcess d;
    CHECK(cli(d, {"frobnicate"}).exit_code == 2);
    CHECK(cli(d, {"submit"}).exit_code == 2);
    CHECK(cli(d, {"submit", "echo", "{not json"}).exit_code == 2);
    auto unknown = cli(d, {"submit", "nope"});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("no_such_task") != std::string::npos);
    CHECK(cli(d, {"submit", "fib", R"({"n":99})"}).exit_code == 2);
    CHECK(cli(d, {"--help"}).exit_code == 0);
}

TEST_CASE("cli.delay_at_retry_backoff_and_retry" * doctest::timeout(30)) {
    DaemonProcess d;
    auto later = cli(d, {"--json", "submit", "echo", "1", "--delay", "1.5s", "--detach"});
    REQUIRE(later.exit_code == 0);
    auto job = json::parse(later.out);
    CHECK(job["state"] == "scheduled");
    auto shown = cli(d, {"get", job["id"]});
    CHECK(shown.out.find("state:      scheduled") != std::string::npos);
    CHECK(shown.out.find("due:        " + job["scheduled_for"].get<std::string>()) !=
          std::string::npos);
    CHECK(cli(d, {"list", "--state", "scheduled"}).out.find(job["id"]) != std::string::npos);

    auto at =
        cli(d, {"--json", "submit", "echo", "2", "--at", "2030-01-01T00:00:00+01:00", "--detach"});
    CHECK(json::parse(at.out)["scheduled_for"] == "2029-12-31T23:00:00.000Z");
    auto unix_s = cli(d, {"--json", "submit", "echo", "3", "--at", "1893456000", "--detach"});
    CHECK(json::parse(unix_s.out)["scheduled_for"] == "2030-01-01T00:00:00.000Z");

    auto bad = cli(d, {"submit", "echo", "--delay", "soon"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("--delay: a duration such as 30s") != std::string::npos);
    CHECK(cli(d, {"submit", "echo", "--delay", "1m", "--at", "1893456000"}).exit_code == 2);

    auto failed = cli(d, {"--json", "submit", "fail", "--retries", "1", "--retry-backoff", "0.2s"});
    CHECK(failed.exit_code == 1);
    auto failed_job = json::parse(failed.out);
    CHECK(failed_job["attempts"] == 2);
    auto retried = cli(d, {"retry", failed_job["id"]});
    CHECK(retried.exit_code == 0);
    CHECK(retried.out == "queued again " + failed_job["id"].get<std::string>() + "\n");
    CHECK(cli(d, {"wait", failed_job["id"]}).exit_code == 1);
    auto not_retryable = cli(d, {"retry", job["id"]});
    CHECK(not_retryable.err.find("not_retryable") != std::string::npos);
}

TEST_CASE("cli.queues_pause_and_resume" * doctest::timeout(30)) {
    DaemonProcess d;
    auto set = cli(d, {"queue", "set", "mail", "--max-concurrency", "2", "--rate-limit", "10/s"});
    CHECK(set.exit_code == 0);
    CHECK(set.out == "queue mail: max_concurrency 2, rate_limit 10/s\n");
    auto job = json::parse(cli(d, {"--json", "submit", "echo", "1", "--queue", "mail"}).out);
    CHECK(job["queue"] == "mail");

    auto paused = cli(d, {"pause", "--queue", "mail"});
    CHECK(paused.out == "queue mail paused\n");
    auto held =
        json::parse(cli(d, {"--json", "submit", "echo", "2", "--queue", "mail", "--detach"}).out);
    auto table = cli(d, {"queue", "ls"}).out;
    CHECK(table.find("QUEUE") == 0);
    CHECK(table.find("mail") != std::string::npos);
    CHECK(table.find("paused") != std::string::npos);
    auto listed = json::parse(cli(d, {"--json", "queue", "ls"}).out);
    REQUIRE(listed.size() == 1);
    CHECK(listed[0]["queued"] == 1);
    CHECK(cli(d, {"resume", "--queue", "mail"}).out == "queue mail resumed\n");
    CHECK(cli(d, {"wait", held["id"]}).exit_code == 0);

    CHECK(cli(d, {"pause", "--pool", "thread"}).out == "pool thread paused\n");
    CHECK(cli(d, {"--json", "stats"}).out.find(R"("paused":true)") != std::string::npos);
    CHECK(cli(d, {"resume", "--pool", "thread"}).exit_code == 0);
    auto lifted =
        json::parse(cli(d, {"--json", "queue", "set", "mail", "--rate-limit", "none"}).out);
    CHECK(lifted["rate_limit"] == nullptr);
    CHECK(lifted["max_concurrency"] == 2);

    CHECK(cli(d, {"pause"}).exit_code == 2);
    CHECK(cli(d, {"pause", "--queue", "a", "--pool", "thread"}).exit_code == 2);
    auto bad_rate = cli(d, {"queue", "set", "mail", "--rate-limit", "fast"});
    CHECK(bad_rate.exit_code == 2);
    CHECK(bad_rate.err.find("N/s, N/m or N/h or none") != std::string::npos);
    auto zero = cli(d, {"queue", "set", "mail", "--max-concurrency", "0"});
    CHECK(zero.err.find("max_concurrency") != std::string::npos);
}

TEST_CASE("cli.schedule_add_ls_and_rm" * doctest::timeout(30)) {
    DaemonProcess d;
    auto nightly = cli(d, {"schedule", "add", "nightly", "echo", R"({"report":1})", "--cron",
                           "0 3 * * *", "--queue", "reports", "--priority", "5"});
    CHECK(nightly.exit_code == 0);
    CHECK(nightly.out.find("schedule nightly: echo 0 3 * * *, next at ") == 0);
    CHECK(nightly.out.find("T03:00:00.000Z\n") != std::string::npos);
    auto tick = json::parse(
        cli(d, {"--json", "schedule", "add", "tick", "echo", "--every", "1s", "--catch-up", "none"})
            .out);
    CHECK(tick["every_s"] == 1);
    CHECK(tick["catch_up"] == "none");
    auto listed = json::parse(cli(d, {"--json", "schedule", "ls"}).out);
    REQUIRE(listed.size() == 2);
    CHECK(listed[0]["name"] == "nightly");
    CHECK(listed[0]["options"] == json{{"priority", 5}, {"queue", "reports"}});
    CHECK(listed[0]["args"] == json{{"report", 1}});
    REQUIRE(wait_for([&] {
        return json::parse(cli(d, {"--json", "schedule", "ls"}).out)[1]["last_job"].is_string();
    }));
    auto table = cli(d, {"schedule", "ls"}).out;
    CHECK(table.find("SCHEDULE") == 0);
    CHECK(table.find("every 1s") != std::string::npos);
    auto fired = json::parse(cli(d, {"--json", "schedule", "ls"}).out)[1]["last_job"];
    CHECK(json::parse(cli(d, {"--json", "get", fired}).out)["schedule"] == "tick");

    CHECK(cli(d, {"schedule", "rm", "tick"}).out == "schedule tick deleted\n");
    auto gone = cli(d, {"schedule", "rm", "tick"});
    CHECK(gone.exit_code != 0);
    CHECK(gone.err.find("no_such_schedule") != std::string::npos);
    CHECK(cli(d, {"schedule", "add", "x", "echo"}).exit_code == 2);  // neither --cron nor --every
    CHECK(cli(d, {"schedule", "add", "x", "echo", "--cron", "* * * * *", "--every", "1m"})
              .exit_code == 2);
    auto bad = cli(d, {"schedule", "add", "x", "echo", "--cron", "61 * * * *"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("minute 61") != std::string::npos);
    CHECK(cli(d, {"schedule", "add", "x", "echo", "--every", "often"}).exit_code == 2);
}

TEST_CASE("cli.after_and_then" * doctest::timeout(30)) {
    DaemonProcess d;
    auto first =
        json::parse(cli(d, {"--json", "submit", "sleep", R"({"seconds":0.3})", "--detach"}).out);
    auto second = json::parse(cli(d, {"--json", "submit", "echo", "2", "--after", first["id"],
                                      "--then", "echo", R"({"tag":"t"})", "--detach"})
                                  .out);
    CHECK(second["state"] == "waiting");
    CHECK(second["after"] == json{first["id"]});
    CHECK(cli(d, {"get", second["id"]}).out.find("after:      " + first["id"].get<std::string>()) !=
          std::string::npos);
    auto done = json::parse(cli(d, {"--json", "wait", second["id"]}).out);
    REQUIRE(done["then_job"].is_string());
    auto follow_up = json::parse(cli(d, {"--json", "wait", done["then_job"]}).out);
    CHECK(follow_up["result"] == json{{"tag", "t"}, {"result", 2}});
}

TEST_CASE("cli.cannot_connect_exits_3" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = run_command({binary_path("taskpool"), "--addr", "127.0.0.1:1", "ping"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("cannot connect") != std::string::npos);
}

TEST_CASE("cli.wait_that_runs_out_exits_4" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = cli(d, {"submit", "sleep", R"({"seconds":5})", "--wait", "0.2"});
    CHECK(r.exit_code == 4);
    auto id = cli(d, {"submit", "--detach", "sleep", R"({"seconds":5})"});
    CHECK(id.exit_code == 0);
    std::string job = id.out.substr(0, id.out.size() - 1);
    CHECK(job.rfind("j-", 0) == 0);
    CHECK(cli(d, {"wait", job, "--timeout", "0.2"}).exit_code == 4);
    auto cancel = cli(d, {"cancel", job});
    CHECK(cancel.exit_code == 0);
    CHECK(cancel.out == "cancelled " + job + "\n");
    CHECK(cli(d, {"wait", job}).exit_code == 1);
    auto get = cli(d, {"get", job});
    CHECK(get.out.find("state:      cancelled") != std::string::npos);
}

TEST_CASE("cli.human_tables" * doctest::timeout(30)) {
    DaemonProcess d;
    cli(d, {"submit", "echo", "1"});
    auto list = cli(d, {"list"});
    CHECK(list.out.rfind("ID ", 0) == 0);
    CHECK(list.out.find("succeeded") != std::string::npos);
    auto tasks = cli(d, {"tasks"});
    CHECK(tasks.out.find("fib    process  builtin") != std::string::npos);
    auto stats = cli(d, {"stats"});
    CHECK(stats.out.find("submitted 1") != std::string::npos);
    CHECK(cli(d, {"ping"}).out.rfind("pong from taskpoold", 0) == 0);
}

TEST_CASE("cli.token_from_the_environment" * doctest::timeout(30)) {
    DaemonProcess d({.env = {{"TASKPOOL_TOKEN", "tok"}}});
    CHECK(cli(d, {"ping"}).exit_code == 3);
    CHECK(cli(d, {"ping"}, {{"TASKPOOL_TOKEN", "tok"}}).exit_code == 0);
    CHECK(cli(d, {"--token", "tok", "ping"}).exit_code == 0);
}

TEST_CASE("cli.watch_prints_events_until_its_jobs_end" * doctest::timeout(30)) {
    DaemonProcess d;
    auto id = cli(d, {"submit", "-d", "sleep", R"({"seconds":0.5})"}).out;
    id.pop_back();
    auto r = cli(d, {"--json", "watch", id});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("job.finished") != std::string::npos);
}

TEST_CASE("cli.submit_and_watch_show_the_progress" * doctest::timeout(30)) {
    json steps = {{"command",
                   {"sh", "-c",
                    "sleep 1; echo 1 >&3; sleep 0.5; echo '{\"pct\": 100}' >&3; sleep 0.5; "
                    "echo ok"}},
                  {"output", "text"}};
    DaemonProcess d({.config = {{"tasks", {{"steps", steps}}}}});
    // Off a terminal, --progress prints each on a line of its own.
    auto r = cli(d, {"submit", "--progress", "steps"});
    CHECK(r.exit_code == 0);
    CHECK(r.err == "progress: 1\nprogress: {\"pct\":100}\n");
    CHECK(r.out.find("ok") != std::string::npos);

    auto id = cli(d, {"submit", "-d", "steps"}).out;
    id.pop_back();
    auto watched = cli(d, {"watch", id});
    CHECK(watched.exit_code == 0);
    CHECK(watched.out.find("  job.progress  " + id + "  1\n") != std::string::npos);
    CHECK(watched.out.find("  job.progress  " + id + "  {\"pct\":100}\n") != std::string::npos);
}

TEST_CASE("cli.watch_json_reaches_a_pipe_before_it_is_interrupted" * doctest::timeout(30)) {
    DaemonProcess d;
    // Interrupted as a user's Ctrl-C would: what it printed must already be out.
    auto watch = std::async(std::launch::async, [&] {
        return run_command(
            {"timeout", "-s", "INT", "4", binary_path("taskpool"), "--json", "watch"},
            {{"TASKPOOL_ADDR", d.address()}});
    });
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        cli(d, {"submit", "echo", "1"});
    }
    auto r = watch.get();
    CHECK(r.out.find("\"event\":\"job.finished\"") != std::string::npos);
}

TEST_CASE("cli.shutdown" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = cli(d, {"shutdown"});
    CHECK(r.exit_code == 0);
    CHECK(d.wait_exit(std::chrono::seconds(10)) == 0);
}

TEST_CASE("cli.resize" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = cli(d, {"resize", "thread", "3"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "the thread pool now has 3 workers\n");
    auto j = cli(d, {"--json", "resize", "process", "1"});
    CHECK(json::parse(j.out)["process"]["size"] == 1);
    CHECK(cli(d, {"resize", "gpu", "1"}).exit_code == 2);
}

TEST_CASE("cli.kv_commands_and_their_exit_codes" * doctest::timeout(30)) {
    DaemonProcess d;
    CHECK(cli(d, {"kv", "set", "name", "alice"}).out == "alice\n");  // not JSON: a string
    CHECK(cli(d, {"--json", "kv", "get", "name"}).out == "{\"value\":\"alice\"}\n");
    CHECK(cli(d, {"kv", "set", "n", "5"}).out == "5\n");  // JSON: a number
    CHECK(cli(d, {"kv", "incr", "n", "--by", "-7"}).out == "-2\n");
    auto not_integer = cli(d, {"kv", "incr", "name"});
    CHECK(not_integer.exit_code == 2);
    CHECK(not_integer.err.find("not an integer") != std::string::npos);
    auto swapped = cli(d, {"kv", "cas", "n", "-2", "{\"a\":1}"});
    CHECK(swapped.exit_code == 0);
    CHECK(swapped.out == "{\"a\":1}\n");
    auto refused = cli(d, {"kv", "cas", "n", "-2", "3"});
    CHECK(refused.exit_code == 1);
    CHECK(refused.out == "{\"a\":1}\n");  // the value it holds
    CHECK(cli(d, {"kv", "del", "n"}).out == "{\"a\":1}\n");
    auto missing = cli(d, {"kv", "get", "n"});
    CHECK(missing.exit_code == 0);
    CHECK(missing.out.empty());
    CHECK(cli(d, {"kv"}).exit_code == 2);
}

TEST_CASE("cli.map_prints_results_in_input_order" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 3}}}}});
    auto stdin_items = "{\"seconds\":0.3}\n{\"seconds\":0.1}\n\n{\"seconds\":0}\n";
    auto r = run_command({binary_path("taskpool"), "--addr", d.address(), "map", "sleep"}, {},
                         stdin_items);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "{\"slept\":0.3}\n{\"slept\":0.1}\n{\"slept\":0}\n");
    CHECK(r.err.empty());  // no progress bar: stderr is not a terminal

    // --unordered prints as they finish; --json prints whole jobs.
    r = run_command(
        {binary_path("taskpool"), "--addr", d.address(), "--json", "map", "sleep", "--unordered"},
        {}, stdin_items);
    CHECK(r.exit_code == 0);
    std::vector<json> jobs;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        jobs.push_back(json::parse(line));
    }
    REQUIRE(jobs.size() == 3);
    CHECK(jobs.front()["result"]["slept"] == 0);
    CHECK(jobs.back()["result"]["slept"] == 0.3);
    CHECK(jobs.front()["batch"] == jobs.back()["batch"]);
}

TEST_CASE("cli.map_of_many_items_from_a_file_with_failures" * doctest::timeout(60)) {
    DaemonProcess d;
    TempDir dir;
    auto path = (dir.path() / "items").string();
    {
        std::ofstream out(path);
        for (int i = 0; i < 5000; ++i) {
            // Every 1000th item fails; the rest echo.
            out << (i % 1000 == 999 ? json{{"message", "item " + std::to_string(i)}}
                                    : json{{"message", "no"}})
                << "\n";
        }
    }
    auto r = cli(d, {"map", "fail", path});
    CHECK(r.exit_code == 1);  // an item failed
    std::istringstream lines(r.out);
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) {
        if (count == 999) {
            CHECK(line == "error: task_error: item 999");
        }
        ++count;
    }
    CHECK(count == 5000);
    auto ok = cli(d, {"map", "echo", path});
    CHECK(ok.exit_code == 0);

    std::ofstream(path) << "{\"n\":1}\nnot json\n";
    auto bad = cli(d, {"map", "fib", path});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("line 2 is not JSON") != std::string::npos);
    CHECK(cli(d, {"map", "fib", "/no/such/file"}).exit_code == 2);
    auto refused = cli(d, {"map", "fib"}, {});  // nothing on stdin: nothing to do
    CHECK(refused.exit_code == 0);
}

TEST_CASE("cli.map_draws_a_progress_bar_on_a_terminal" * doctest::timeout(60)) {
    DaemonProcess d;
    TempDir dir;
    auto path = (dir.path() / "items").string();
    {
        std::ofstream out(path);
        for (int i = 0; i < 300; ++i) {
            out << "{\"seconds\":0.002}\n";
        }
    }
    // script(1) runs the CLI on a pseudo-terminal.
    auto command = [&](const std::string& flags) {
        return binary_path("taskpool") + " --addr " + d.address() + flags + " map sleep " + path +
               " > " + (dir.path() / "out").string();
    };
    auto r = run_command({"/usr/bin/script", "-qec", command(""), "/dev/null"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("300/300  0 failed") != std::string::npos);
    CHECK(r.out.find("[##############################]") != std::string::npos);
    // The results went to the file, without the bar.
    std::ifstream results(dir.path() / "out");
    std::string first;
    std::getline(results, first);
    CHECK(first == "{\"slept\":0.002}");
    // --json never draws it.
    auto quiet = run_command({"/usr/bin/script", "-qec", command(" --json"), "/dev/null"});
    CHECK(quiet.out.find("300/300") == std::string::npos);
}

TEST_CASE("cli.submit_hooks_run_with_the_job_on_stdin" * doctest::timeout(30)) {
    DaemonProcess d;
    TempDir dir;
    auto done_file = (dir.path() / "done").string();
    auto error_file = (dir.path() / "error").string();
    auto read = [](const std::string& path) {
        std::ifstream in(path);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    };
    auto ok = cli(d, {"submit", "echo", "[7]", "--on-done", "cat > " + done_file, "--on-error",
                      "cat > " + error_file});
    CHECK(ok.exit_code == 0);
    auto job = json::parse(read(done_file));
    CHECK(job["state"] == "succeeded");
    CHECK(job["result"] == json{7});
    CHECK(read(error_file).empty());  // not run

    auto failed = cli(d, {"submit", "fail", R"({"message":"boom"})", "--on-done",
                          "cat > " + done_file + ".2", "--on-error", "cat > " + error_file});
    CHECK(failed.exit_code == 1);
    CHECK(json::parse(read(error_file))["error"]["message"] == "boom");
    CHECK(read(done_file + ".2").empty());

    auto broken_hook = cli(d, {"submit", "echo", "1", "--on-done", "exit 3"});
    CHECK(broken_hook.exit_code == 1);
    CHECK(broken_hook.err.find("exited with status 3") != std::string::npos);
    // A job larger than a pipe holds, to a hook that never reads it: the write fails
    // once the hook is gone, which must not end the CLI by SIGPIPE.
    auto unread =
        cli(d, {"submit", "echo", "\"" + std::string(100000, 'x') + "\"", "--on-done", "exit 3"});
    CHECK(unread.exit_code == 1);
    CHECK(unread.err.find("exited with status 3") != std::string::npos);
    CHECK(cli(d, {"submit", "echo", "1", "--detach", "--on-done", "true"}).exit_code == 2);
}

TEST_CASE("cli.global_options_anywhere_on_the_line" * doctest::timeout(30)) {
    DaemonProcess d;
    auto r = run_command(
        {binary_path("taskpool"), "submit", "--json", "echo", "{}", "--addr", d.address()});
    CHECK(r.exit_code == 0);
    CHECK(json::parse(r.out)["state"] == "succeeded");
    auto kv = cli(d, {"kv", "set", "k", "1", "--json"});
    CHECK(kv.exit_code == 0);
    CHECK(json::parse(kv.out)["value"] == 1);
}

TEST_CASE("cli.usage_errors_say_what_is_wrong" * doctest::timeout(30)) {
    DaemonProcess d;
    auto unknown = cli(d, {"frobnicate"});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err.find("unknown command 'frobnicate'") != std::string::npos);
    CHECK(unknown.err.find("submit") != std::string::npos);  // and the ones there are
    CHECK(unknown.err.find("watch") != std::string::npos);
    auto size = cli(d, {"resize", "process", "abc"});
    CHECK(size.exit_code == 2);
    CHECK(size.err.find("must be a whole number from 0 to 4096, not 'abc'") != std::string::npos);
    auto version = run_command({binary_path("taskpool"), "--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.find("taskpool 0.") == 0);
    CHECK(version.out.find("(protocol ") != std::string::npos);
}

TEST_CASE("cli.a_job_id_may_be_given_by_its_start" * doctest::timeout(30)) {
    DaemonProcess d;
    auto id = cli(d, {"submit", "-d", "echo", "1"}).out;
    id.pop_back();
    auto other = cli(d, {"submit", "-d", "echo", "2"}).out;
    other.pop_back();
    // The first digit that tells the two apart, and a few more.
    std::size_t differ = 2;
    while (id[differ] == other[differ]) {
        ++differ;
    }
    auto unique = id.substr(2, differ - 1);
    auto got = cli(d, {"--json", "wait", unique});
    CHECK(got.exit_code == 0);
    CHECK(json::parse(got.out)["id"] == id);
    std::string lower = unique;
    for (auto& ch : lower) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    CHECK(json::parse(cli(d, {"--json", "get", "j-" + lower}).out)["id"] == id);
    auto ambiguous = cli(d, {"get", id.substr(0, differ)});
    CHECK(ambiguous.exit_code == 2);
    CHECK(ambiguous.err.find("more than one job") != std::string::npos);
    auto none = cli(d, {"get", "ZZZZ"});
    CHECK(none.exit_code == 1);
    CHECK(none.err.find("no job id starts with j-ZZZZ") != std::string::npos);
    CHECK(cli(d, {"cancel", unique}).err.find(id) != std::string::npos);  // finished already
}

TEST_CASE("cli.list_and_stats_show_what_a_person_asks_first" * doctest::timeout(30)) {
    DaemonProcess d({.args = {"--store", "journal.db"}});
    cli(d, {"submit", "sleep", R"({"seconds":0.3})"});
    auto list = cli(d, {"list"});
    CHECK(list.out.find("STARTED") != std::string::npos);
    CHECK(list.out.find("RAN") != std::string::npos);
    CHECK(std::regex_search(list.out, std::regex(R"(\s(3\d\dms|0\.\ds)\n)")));
    auto stats = cli(d, {"stats"});
    CHECK(stats.out.find("journal:      ") != std::string::npos);
    CHECK(stats.out.find("journal.db  writable") != std::string::npos);
    CHECK(stats.out.find("callbacks:    delivered 0") != std::string::npos);
    CHECK(std::regex_search(stats.out, std::regex(R"(WORKER PID\s+STATE\s+JOBS DONE\n\d+ )")));
}

TEST_CASE("cli.watch_prints_a_batch_with_its_counts_and_the_events_own_time" *
          doctest::timeout(30)) {
    DaemonProcess d;
    auto watch = std::async(std::launch::async, [&] {
        return run_command({"timeout", "-s", "INT", "3", binary_path("taskpool"), "watch"},
                           {{"TASKPOOL_ADDR", d.address()}});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    auto map = run_command(
        {binary_path("taskpool"), "--addr", d.address(), "--json", "map", "echo"}, {}, "1\n2\n");
    auto r = watch.get();
    CHECK(std::regex_search(
        r.out, std::regex(R"(\dZ  batch\.finished  b-\w+  2 succeeded, 0 failed, 0 cancelled\n)")));
    // job.finished lines carry the job's own finished_at.
    auto first = json::parse(map.out.substr(0, map.out.find('\n')));
    CHECK(r.out.find(first["finished_at"].get<std::string>() + "  job.finished  " +
                     first["id"].get<std::string>()) != std::string::npos);
}

namespace {

// The command a worker runs per job: its args on stdin say what to do.
constexpr const char* worker_script = R"(import json, os, sys, time
a = json.load(sys.stdin)
if "fail" in a:
    sys.stderr.write("boom\n"); sys.exit(3)
if "sleep" in a and (os.environ["TASKPOOL_ATTEMPT"] == "1" or not a.get("once")):
    open(a["pidfile"], "w").write(str(os.getpid()))
    time.sleep(a["sleep"])
os.write(int(os.environ["TASKPOOL_PROGRESS_FD"]), b'{"pct": 50}\n')
print(json.dumps({"up": a.get("text", "").upper(), "job": os.environ["TASKPOOL_JOB_ID"]})))";

}  // namespace

TEST_CASE("cli.worker_serves_a_task_with_a_command_until_sigterm" * doctest::timeout(60)) {
    DaemonProcess d;
    std::vector<std::string> argv = {binary_path("taskpool"),
                                     "--addr",
                                     d.address(),
                                     "worker",
                                     "shout,nap",
                                     "--output",
                                     "json",
                                     "-c",
                                     "2",
                                     "--name",
                                     "cli-worker",
                                     "--",
                                     "python3",
                                     "-c",
                                     worker_script};
    auto worker = std::async(std::launch::async, [&] { return run_command(argv); });
    struct KillOnFailure {  // else a failed REQUIRE would wait on the worker forever
        const std::vector<std::string>& argv;
        ~KillOnFailure() {
            for (auto pid : running(argv)) {
                ::kill(pid, SIGKILL);
            }
        }
    } guard{argv};
    REQUIRE(wait_for([&] {
        auto stats = json::parse(cli(d, {"--json", "stats"}).out);
        return stats["pools"]["remote"]["workers"].size() == 1;
    }));

    auto shouted = cli(d, {"--json", "submit", "shout", R"({"text":"hi"})"});
    REQUIRE(shouted.exit_code == 0);
    auto job = json::parse(shouted.out);
    CHECK(job["result"]["up"] == "HI");
    CHECK(job["result"]["job"] == job["id"]);     // TASKPOOL_JOB_ID
    CHECK(job["progress"] == json{{"pct", 50}});  // a line on fd 3
    CHECK(job["worker"]["name"] == "cli-worker");

    auto failed = cli(d, {"submit", "shout", R"({"fail":true})"});
    CHECK(failed.exit_code == 1);
    CHECK(failed.err.find("exit_status: the command exited with status 3: boom") !=
          std::string::npos);

    // A cancelled job's command is stopped; the worker goes on.
    TempDir dir;
    auto pidfile = (dir.path() / "nap.pid").string();
    auto nap = json::parse(cli(d, {"--json", "submit", "--detach", "nap",
                                   json{{"sleep", 60}, {"pidfile", pidfile}}.dump()})
                               .out);
    std::string pid;
    REQUIRE(wait_for([&] {
        std::ifstream(pidfile) >> pid;
        return !pid.empty();
    }));
    CHECK(cli(d, {"cancel", nap["id"]}).exit_code == 0);
    CHECK(wait_for([&] { return !alive(std::stoi(pid)); }));
    CHECK(cli(d, {"submit", "shout", R"({"text":"again"})"}).exit_code == 0);

    auto pids = running(argv);
    REQUIRE(pids.size() == 1);
    ::kill(pids[0], SIGTERM);
    auto done = worker.get();
    CHECK(done.exit_code == 0);
    CHECK(done.err.find("stopping") != std::string::npos);
}

TEST_CASE("cli.worker_needs_a_command_and_a_servable_task" * doctest::timeout(30)) {
    DaemonProcess d;
    auto none = cli(d, {"worker", "shout"});
    CHECK(none.exit_code == 2);
    CHECK(none.err.find("give the command after --") != std::string::npos);
    auto local = cli(d, {"worker", "echo", "--", "cat"});
    CHECK(local.exit_code == 2);
    CHECK(local.err.find("'echo' is a builtin task") != std::string::npos);
}

namespace {

/// A CLI worker of `tasks` serving `d`'s port with worker_script, in the
/// background; killed (SIGKILL) when it goes out of scope.
class CliWorker {
public:
    CliWorker(const std::string& address, const std::string& name)
        : argv_{binary_path("taskpool"),
                "--addr",
                address,
                "worker",
                "shout,nap",
                "--output",
                "json",
                "--name",
                name,
                "--",
                "python3",
                "-c",
                worker_script},
          done_(std::async(std::launch::async, [this] { return run_command(argv_); })) {}
    ~CliWorker() { kill(SIGKILL); }
    void kill(int signo) {
        for (auto pid : running(argv_)) {
            ::kill(pid, signo);
        }
    }

private:
    std::vector<std::string> argv_;
    std::future<CommandResult> done_;
};

/// Until the command of a job has started: its pid.
int started_command(const std::string& pidfile) {
    std::string pid;
    REQUIRE(wait_for([&] {
        std::ifstream(pidfile) >> pid;
        return !pid.empty();
    }));
    return std::stoi(pid);
}

}  // namespace

TEST_CASE("cli.worker_killed_mid_job_its_job_runs_on_another" * doctest::timeout(60)) {
    DaemonProcess d;
    TempDir dir;
    auto pidfile = (dir.path() / "nap.pid").string();
    auto first = std::make_unique<CliWorker>(d.address(), "first");
    REQUIRE(wait_for([&] { return cli(d, {"tasks"}).out.find("nap") != std::string::npos; }));
    auto args = json{{"sleep", 60}, {"pidfile", pidfile}, {"once", true}};
    auto job = json::parse(
        cli(d, {"--json", "submit", "--detach", "--retries", "1", "nap", args.dump()}).out);
    int command = started_command(pidfile);
    first.reset();                                     // kill -9
    CHECK(wait_for([&] { return !alive(command); }));  // its command dies with it
    CliWorker second(d.address(), "second");
    auto done = json::parse(cli(d, {"--json", "wait", job["id"]}).out);
    CHECK(done["state"] == "succeeded");
    CHECK(done["attempts"] == 2);
    CHECK(done["worker"]["name"] == "second");
}

TEST_CASE("cli.worker_outlives_a_daemon_restart_and_the_journal_reruns_its_job" *
          doctest::timeout(120)) {
    TempDir state;
    json config = {{"store", {{"path", (state.path() / "journal.db").string()}}}};
    auto pidfile = (state.path() / "nap.pid").string();
    auto daemon = std::make_unique<DaemonProcess>(DaemonProcess::Options{.config = config});
    auto address = daemon->address();
    CliWorker worker(address, "survivor");
    REQUIRE(wait_for([&] { return cli(*daemon, {"tasks"}).out.find("nap") != std::string::npos; }));
    auto args = json{{"sleep", 60}, {"pidfile", pidfile}, {"once", true}};
    auto job = json::parse(
        cli(*daemon, {"--json", "submit", "--detach", "--retries", "1", "nap", args.dump()}).out);
    int command = started_command(pidfile);
    daemon->signal(SIGKILL);
    REQUIRE(daemon->wait_exit(std::chrono::seconds(10)));
    // The worker stops what it can no longer report, and connects again.
    CHECK(wait_for([&] { return !alive(command); }));
    daemon = std::make_unique<DaemonProcess>(
        DaemonProcess::Options{.config = config, .listen = address});
    auto done = json::parse(cli(*daemon, {"--json", "wait", job["id"]}).out);
    CHECK(done["state"] == "succeeded");
    CHECK(done["attempts"] == 2);
    CHECK(done["worker"]["name"] == "survivor");
}

TEST_CASE("cli.worker_job_ends_with_its_command_whatever_it_left_running" * doctest::timeout(60)) {
    DaemonProcess d;
    TempDir dir;
    auto pidfile = (dir.path() / "left.pid").string();
    // The sleep leaves the command's process group and keeps its stdout open.
    std::vector<std::string> argv = {binary_path("taskpool"),
                                     "--addr",
                                     d.address(),
                                     "worker",
                                     "leave",
                                     "--",
                                     "sh",
                                     "-c",
                                     "setsid sleep 30 & echo $! > " + pidfile + "; echo done"};
    auto worker = std::async(std::launch::async, [&] { return run_command(argv); });
    REQUIRE(wait_for([&] { return cli(d, {"tasks"}).out.find("leave") != std::string::npos; }));
    auto r = cli(d, {"--json", "submit", "--wait", "10", "leave"});
    CHECK(r.exit_code == 0);
    if (r.exit_code == 0) {
        CHECK(json::parse(r.out)["result"]["stdout"] == "done\n");
    }
    int left = 0;
    std::ifstream(pidfile) >> left;
    if (left > 0) {
        ::kill(left, SIGKILL);
    }
    for (auto pid : running(argv)) {
        ::kill(pid, SIGTERM);
    }
    CHECK(worker.get().exit_code == 0);
}
