// Command tasks from the config: no shell, bounded output, env and fds as promised,
// whole process groups killed, on both pools.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/proc.hpp"
#include "../support/temp_dir.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* const pools[] = {"thread", "process"};

/// A sleep's argument that no other test process uses: ctest may run these tests
/// and their journal: twins at once, and each looks for its own commands by their
/// command line.
std::string own_seconds(int whole) {
    return std::to_string(whole) + "." + std::to_string(::getpid());
}

/// The same command as two tasks, NAME_thread and NAME_process.
void on_both_pools(json& tasks, const std::string& name, json spec) {
    for (const char* pool : pools) {
        spec["pool"] = pool;
        tasks[name + "_" + pool] = spec;
    }
}

json command_config() {
    json tasks = json::object();
    // printf prints each argument on its own line: one argv element each.
    on_both_pools(tasks, "args", {{"command", {"printf", "[%s]\\n", "{a}", "x{b}y"}}});
    on_both_pools(tasks, "options",
                  {{"command", {"printf", "[%s]\\n", "{a}"}}, {"allow_options", true}});
    on_both_pools(tasks, "env", {{"command", {"env"}}, {"env", {{"GREETING", "hello world"}}}});
    on_both_pools(tasks, "fds", {{"command", {"sh", "-c", "ls /proc/$$/fd"}}});
    // Progress lines on fd 3: JSON, plain text, and one too long to keep.
    on_both_pools(tasks, "progress",
                  {{"command",
                    {"sh", "-c",
                     "echo '{\"pct\": 50}' >&3; sleep 0.3; "
                     "head -c 70000 /dev/zero | tr '\\0' x >&3; echo >&3; "
                     "echo step two >&3; sleep 0.3; echo out"}}});
    on_both_pools(tasks, "exit3",
                  {{"command", {"sh", "-c", "echo first >&2; echo last words >&2; exit 3"}}});
    on_both_pools(tasks, "big",
                  {{"command",
                    {"sh", "-c",
                     "head -c 3000000 /dev/zero | tr '\\0' o; "
                     "head -c 3000000 /dev/zero | tr '\\0' e >&2; echo end >&2"}},
                   {"max_output_bytes", 4096}});
    on_both_pools(tasks, "latin1", {{"command", {"printf", "caf\\351 ok"}}});
    on_both_pools(
        tasks, "background",
        {{"command", {"sh", "-c", "sleep " + own_seconds(97) + " & sleep " + own_seconds(97)}},
         {"timeout_s", 1}});
    on_both_pools(tasks, "long", {{"command", {"sleep", "{s}"}}});
    // Descendants that leave the job's process group: a new session, a double fork,
    // one that ignores SIGTERM.
    on_both_pools(
        tasks, "setsid",
        {{"command", {"sh", "-c", "setsid sleep " + own_seconds(95) + " & sleep 0.3; exit 0"}}});
    on_both_pools(
        tasks, "double_fork",
        {{"command", {"sh", "-c", "(sleep " + own_seconds(94) + " &); sleep 0.3; exit 0"}}});
    on_both_pools(tasks, "stubborn",
                  {{"command",
                    {"sh", "-c",
                     "setsid sh -c 'trap \"\" TERM; sleep " + own_seconds(93) + "' & sleep 60"}}});
    // Braces that are no placeholder are the program's own: awk, jq, Python.
    tasks["awk"] = {{"command", {"awk", "-v", "n={n}", "BEGIN {print n * 2}"}}, {"pool", "thread"}};
    tasks["python"] = {
        {"command", {"python3", "-c", "import sys; print({'got': sys.argv[1]}['got'])", "{x}"}}};
    tasks["stdin_args"] = {{"command", {"cat"}}, {"stdin", "args"}, {"output", "json"}};
    tasks["stdin_field"] = {{"command", {"tr", "a-z", "A-Z"}}, {"stdin", "{text}"}};
    tasks["not_json"] = {{"command", {"echo", "not json"}}, {"output", "json"}};
    tasks["pwd"] = {{"command", {"pwd"}}, {"cwd", "/usr"}};
    tasks["missing"] = {{"command", {"no-such-program-here"}}};
    tasks["bad_cwd"] = {{"command", {"pwd"}}, {"cwd", "/no/such/dir"}};
    return {{"process_pool", {{"size", 2}}}, {"thread_pool", {{"size", 2}}}, {"tasks", tasks}};
}

json run_task(LineClient& c, const std::string& task, json args = nullptr) {
    json request = {{"op", "submit"}, {"task", task}, {"wait", 30}};
    if (!args.is_null()) {
        request["args"] = std::move(args);
    }
    auto reply = c.request(request, 40s);
    REQUIRE_MESSAGE(reply["ok"] == true, reply.dump());
    return reply["job"];
}

std::string stdout_of(const json& job) {
    REQUIRE_MESSAGE(job["state"] == "succeeded", job.dump());
    return job["result"]["stdout"].get<std::string>();
}

}  // namespace

TEST_CASE("command.arguments_are_single_argv_elements_never_a_shell" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        auto job = run_task(c, std::string("args_") + pool, {{"a", "; rm -rf /"}, {"b", "$(id)"}});
        CHECK(stdout_of(job) == "[; rm -rf /]\n[x$(id)y]\n");
        CHECK(job["result"]["exit_code"] == 0);
        CHECK(job["result"]["truncated"] == false);
        job = run_task(c, std::string("args_") + pool, {{"a", "two words"}, {"b", 42}});
        CHECK(stdout_of(job) == "[two words]\n[x42y]\n");
    }
}

TEST_CASE("command.braces_that_are_no_placeholder_reach_the_program" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    CHECK(stdout_of(run_task(c, "awk", {{"n", 21}})) == "42\n");
    CHECK(stdout_of(run_task(c, "python", {{"x", "{not a field}"}})) == "{not a field}\n");
}

TEST_CASE("command.values_that_look_like_options_are_refused" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    auto reply = c.request(
        {{"op", "submit"}, {"task", "args_process"}, {"args", {{"a", "--output=x"}, {"b", "1"}}}});
    CHECK(reply["ok"] == false);
    CHECK(reply["error"]["code"] == "bad_request");
    CHECK(reply["error"]["message"].get<std::string>().find("args.a") != std::string::npos);
    // Inside a template too: "x{b}y" would still hand the value over.
    reply = c.request(
        {{"op", "submit"}, {"task", "args_thread"}, {"args", {{"a", "ok"}, {"b", "-rf"}}}});
    CHECK(reply["error"]["code"] == "bad_request");
    // Missing or ill-typed fields are refused at submit time as well.
    reply = c.request({{"op", "submit"}, {"task", "args_thread"}, {"args", {{"a", "ok"}}}});
    CHECK(reply["error"]["message"].get<std::string>().find("args.b") != std::string::npos);
    reply = c.request(
        {{"op", "submit"}, {"task", "args_thread"}, {"args", {{"a", {1, 2}}, {"b", "x"}}}});
    CHECK(reply["error"]["code"] == "bad_request");
    // A task that allows options passes them on as they are.
    for (const char* pool : pools) {
        CHECK(stdout_of(run_task(c, std::string("options_") + pool, {{"a", "--output=x"}})) ==
              "[--output=x]\n");
    }
}

TEST_CASE("command.non_zero_exit_is_exit_status_with_the_tail_of_stderr" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        auto job = run_task(c, std::string("exit3_") + pool);
        CHECK(job["state"] == "failed");
        CHECK(job["error"]["code"] == "exit_status");
        auto message = job["error"]["message"].get<std::string>();
        CHECK(message.find("exited with status 3") != std::string::npos);
        CHECK(message.find("last words") != std::string::npos);
    }
    // The CLI reports it as a failed job.
    auto cli =
        run_command({binary_path("taskpool"), "--addr", d.address(), "submit", "exit3_thread"});
    CHECK(cli.exit_code == 1);
    CHECK(cli.err.find("exit_status") != std::string::npos);
}

TEST_CASE("command.huge_output_is_capped_and_flagged" * doctest::timeout(60)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        auto job = run_task(c, std::string("big_") + pool);
        REQUIRE(job["state"] == "succeeded");
        auto out = job["result"]["stdout"].get<std::string>();
        auto err = job["result"]["stderr"].get<std::string>();
        CHECK(out == std::string(4096, 'o'));
        CHECK(err.size() == 4096);
        CHECK(err.substr(err.size() - 4) == "end\n");  // stderr keeps its tail
        CHECK(job["result"]["truncated"] == true);
    }
}

TEST_CASE("command.output_that_is_not_utf8_gets_replacement_characters" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CHECK(stdout_of(run_task(c, std::string("latin1_") + pool)) == "caf\xEF\xBF\xBD ok");
    }
}

TEST_CASE("command.environment_is_only_what_was_configured" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config(), .env = {{"DAEMON_SECRET", "hunter2"}}});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        auto job = run_task(c, std::string("env_") + pool);
        std::string expected =
            "GREETING=hello world\nPATH=/usr/local/bin:/usr/bin:/bin\n"
            "TASKPOOL_ADDR=" +
            d.address() + "\nTASKPOOL_JOB_ID=" + job["id"].get<std::string>() +
            "\nTASKPOOL_ATTEMPT=1\nTASKPOOL_PROGRESS_FD=3\n";
        CHECK(stdout_of(job) == expected);
    }
}

TEST_CASE("command.only_fds_0_to_3_are_open" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        CHECK(stdout_of(run_task(c, std::string("fds_") + pool)) == "0\n1\n2\n3\n");
    }
}

TEST_CASE("command.lines_on_fd_3_are_its_progress" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        auto lines = c.submit_and_follow({{"task", std::string("progress_") + pool}});
        REQUIRE(lines.front()["ok"] == true);
        std::vector<json> progress;
        for (const auto& line : lines) {
            if (line.value("event", "") == "job.progress") {
                progress.push_back(line["progress"]);
            }
        }
        // JSON as it is, text as a string; the 70,000-byte line is dropped.
        CHECK(progress == std::vector<json>{{{"pct", 50}}, "step two"});
        CHECK(lines.back()["job"]["progress"] == "step two");
        CHECK(stdout_of(lines.back()["job"]) == "out\n");
    }
}

TEST_CASE("command.timeout_kills_the_whole_group" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        auto started = std::chrono::steady_clock::now();
        auto job = run_task(c, std::string("background_") + pool);  // timeout_s 1 from its task
        CHECK(std::chrono::steady_clock::now() - started < 2s);
        CHECK(job["state"] == "failed");
        CHECK(job["error"]["code"] == "timeout");
        // Both sleeps, the one in the background included.
        CHECK(wait_for([] { return running({"sleep", own_seconds(97)}).empty(); }, 2s));
    }
}

TEST_CASE("command.cancel_kills_the_whole_group" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        auto id = c.request({{"op", "submit"},
                             {"task", std::string("long_") + pool},
                             {"args", {{"s", own_seconds(96)}}}})["job"]["id"];
        REQUIRE(wait_for([] { return running({"sleep", own_seconds(96)}).size() == 1; }));
        auto started = std::chrono::steady_clock::now();
        CHECK(c.request({{"op", "cancel"}, {"job", id}})["ok"] == true);
        CHECK(wait_for([] { return running({"sleep", own_seconds(96)}).empty(); }, 2s));
        CHECK(std::chrono::steady_clock::now() - started < 2s);
        auto job = c.request({{"op", "get"}, {"job", id}})["job"];
        CHECK(job["state"] == "cancelled");
    }
    // Both pools still run commands.
    CHECK(stdout_of(run_task(c, "args_thread", {{"a", "1"}, {"b", "2"}})) == "[1]\n[x2y]\n");
    CHECK(stdout_of(run_task(c, "args_process", {{"a", "1"}, {"b", "2"}})) == "[1]\n[x2y]\n");
}

TEST_CASE("command.nothing_a_job_starts_outlives_it" * doctest::timeout(60)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    auto gone = [](int seconds) {
        return wait_for([&] { return running({"sleep", own_seconds(seconds)}).empty(); }, 3s);
    };
    for (const char* pool : pools) {
        CAPTURE(pool);
        // The job exits at once; what it left in another session or under init goes.
        CHECK(stdout_of(run_task(c, std::string("setsid_") + pool)).empty());
        CHECK(gone(95));
        CHECK(stdout_of(run_task(c, std::string("double_fork_") + pool)).empty());
        CHECK(gone(94));
        // Cancelled while it runs, with a descendant that ignores SIGTERM.
        auto id =
            c.request({{"op", "submit"}, {"task", std::string("stubborn_") + pool}})["job"]["id"];
        REQUIRE(wait_for([] { return running({"sleep", own_seconds(93)}).size() == 1; }));
        CHECK(c.request({{"op", "cancel"}, {"job", id}})["ok"] == true);
        CHECK(gone(93));
    }
    // Stopped with the daemon.
    for (const char* pool : pools) {
        c.send({{"op", "submit"}, {"task", std::string("stubborn_") + pool}});
    }
    REQUIRE(wait_for([] { return running({"sleep", own_seconds(93)}).size() == 2; }));
    d.signal(SIGINT);
    CHECK(d.wait_exit(10s) == 0);
    CHECK(gone(93));
}

TEST_CASE("command.kill_9_of_the_daemon_leaves_no_command_behind" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config(), .expect_errors = true});
    LineClient c(d.port());
    for (const char* pool : pools) {
        c.request({{"op", "submit"},
                   {"task", std::string("long_") + pool},
                   {"args", {{"s", own_seconds(95)}}}});
    }
    REQUIRE(wait_for([] { return running({"sleep", own_seconds(95)}).size() == 2; }));
    d.signal(SIGKILL);
    d.wait_exit(5s);
    CHECK(wait_for([] { return running({"sleep", own_seconds(95)}).empty(); }, 2s));
}

TEST_CASE("command.stdin_and_json_output" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    json args = {{"list", {1, 2, 3}}, {"name", "x"}};
    auto job = run_task(c, "stdin_args", args);
    CHECK(job["result"] == args);
    CHECK(stdout_of(run_task(c, "stdin_field", {{"text", "shout"}})) == "SHOUT");
    job = run_task(c, "not_json");
    CHECK(job["error"]["code"] == "task_error");
    CHECK(job["error"]["message"].get<std::string>().find("not JSON") != std::string::npos);
}

TEST_CASE("command.cwd_and_start_failures" * doctest::timeout(30)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    CHECK(stdout_of(run_task(c, "pwd")) == "/usr\n");
    auto job = run_task(c, "missing");
    CHECK(job["error"]["code"] == "task_error");
    CHECK(job["error"]["message"].get<std::string>().find("not found") != std::string::npos);
    job = run_task(c, "bad_cwd");
    CHECK(job["error"]["code"] == "task_error");
    CHECK(job["error"]["message"].get<std::string>().find("cwd") != std::string::npos);
}

TEST_CASE("command.no_zombies_and_tasks_listed" * doctest::timeout(60)) {
    DaemonProcess d({.config = command_config()});
    LineClient c(d.port());
    for (int i = 0; i < 50; ++i) {
        run_task(c, i % 2 == 0 ? "exit3_thread" : "exit3_process");
    }
    for (const auto& p : children_of(d.pid())) {
        CHECK(p.state != 'Z');
    }
    auto tasks = c.request({{"op", "tasks"}})["tasks"];
    bool listed = false;
    for (const auto& t : tasks) {
        if (t["name"] == "args_thread") {
            listed = t["kind"] == "command" && t["pool"] == "thread";
        }
    }
    CHECK(listed);
}

TEST_CASE("command.bad_declarations_stop_the_start_with_one_line" * doctest::timeout(30)) {
    auto check_refused = [](const json& tasks, const std::string& expected) {
        TempDir dir;
        auto path = dir.path() / "bad.json";
        std::ofstream(path) << json{{"tasks", tasks}}.dump();
        auto r = run_command({binary_path("taskpoold"), "--config", path.string()});
        CHECK(r.exit_code == 2);
        CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    };
    check_refused({{"t", {{"command", {"{prog}"}}}}}, "program literally");
    check_refused({{"t", {{"command", {"ls"}}, {"shell", true}}}}, "tasks.t.shell");
    check_refused({{"t", {{"command", {"ls"}}, {"output", "xml"}}}}, "tasks.t.output");
    check_refused({{"t", {{"stdin", "args"}}}}, "tasks.t.command");
    // A name taken by a built-in task: the daemon says so and does not start.
    TempDir dir;
    auto path = dir.path() / "clash.json";
    std::ofstream(path)
        << json{{"listen", "127.0.0.1:0"}, {"tasks", {{"echo", {{"command", {"echo"}}}}}}}.dump();
    auto r = run_command({binary_path("taskpoold"), "--config", path.string()});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("tasks.echo: a built-in task has that name") != std::string::npos);
}

// Dropping to another user needs root: skipped, and reported so, without it.
TEST_CASE("command.runs_as_process_pool_user_on_both_pools" * doctest::timeout(30) *
          doctest::skip(::geteuid() != 0)) {
    json tasks = json::object();
    on_both_pools(tasks, "whoami",
                  {{"command", {"sh", "-c", "id -u; grep NoNewPrivs /proc/self/status"}}});
    DaemonProcess d(
        {.config = {{"process_pool", {{"size", 1}, {"user", "nobody"}}}, {"tasks", tasks}}});
    LineClient c(d.port());
    for (const char* pool : pools) {
        CAPTURE(pool);
        CHECK(stdout_of(run_task(c, std::string("whoami_") + pool)) == "65534\nNoNewPrivs:\t1\n");
    }
}
