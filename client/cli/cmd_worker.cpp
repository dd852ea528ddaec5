// `taskpool worker TASK -- CMD ARGS...`: this host serves TASK for the daemon,
// running CMD once per job, as a command task would on the daemon's own host.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include "command_runner.hpp"
#include "exit_codes.hpp"
#include "globals.hpp"
#include "proto/json_parse.hpp"
#include "proto/progress_lines.hpp"
#include "proto/utf8.hpp"
#include "taskpool/worker.hpp"

namespace taskpool::cli {
namespace {

using nlohmann::json;

struct WorkerOptions {
    std::string tasks;  // one, or several with commas
    std::vector<std::string> command;
    int concurrency = 1;
    std::optional<std::string> name;
    std::string output = "text";
    std::size_t max_output_bytes = 1 << 20;
};

// As a command task says why its command failed (PROTOCOL.md section 9).
std::string describe(int status) {
    if (WIFSIGNALED(status)) {
        return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
               ::strsignal(WTERMSIG(status)) + ")";
    }
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

std::string stderr_tail(std::string err) {
    while (!err.empty() && std::isspace(static_cast<unsigned char>(err.back())) != 0) {
        err.pop_back();
    }
    constexpr std::size_t tail = 2000;
    return proto::to_valid_utf8(err.size() > tail ? "..." + err.substr(err.size() - tail) : err);
}

/// One job: the command with the job's args on stdin; its stdout is the result.
json run_job(const WorkerOptions& o, const json& args, JobContext& job) {
    std::vector<std::string> env = {"TASKPOOL_JOB_ID=" + job.id(),
                                    "TASKPOOL_ATTEMPT=" + std::to_string(job.attempt()),
                                    "TASKPOOL_PROGRESS_FD=3"};
    auto run = run_command(
        o.command, args.dump() + "\n", env, o.max_output_bytes, [&job] { return job.cancelled(); },
        [&job, progress = proto::ProgressLines()](std::string_view written) mutable {
            if (auto value = progress.feed(written)) {
                job.progress(value->parse());
            }
        });
    if (run.error) {
        throw TaskFailure("exit_status", *run.error);
    }
    if (!WIFEXITED(run.wait_status) || WEXITSTATUS(run.wait_status) != 0) {
        auto tail = stderr_tail(run.err);
        throw TaskFailure("exit_status", "the command " + describe(run.wait_status) +
                                             (tail.empty() ? "" : ": " + tail));
    }
    if (o.output == "json") {
        auto parsed = proto::parse_json(proto::to_valid_utf8(run.out));
        if (run.truncated || !parsed) {
            throw TaskFailure("task_error", "stdout is not JSON (--output json)");
        }
        return std::move(*parsed);
    }
    return {{"exit_code", 0},
            {"stdout", proto::to_valid_utf8(run.out)},
            {"stderr", proto::to_valid_utf8(run.err)},
            {"truncated", run.truncated}};
}

std::vector<std::string> split_tasks(const std::string& list) {
    std::vector<std::string> tasks;
    std::size_t start = 0;
    for (std::size_t comma; (comma = list.find(',', start)) != std::string::npos;
         start = comma + 1) {
        tasks.push_back(list.substr(start, comma - start));
    }
    tasks.push_back(list.substr(start));
    return tasks;
}

/// SIGTERM and SIGINT, taken by a thread of their own (so that stopping may
/// allocate): the first drains, a second ends the process.
/// The worker serving now, if any: the signal thread stops it while the main
/// thread may be about to destroy it.
struct Current {
    std::mutex mutex;
    Worker* worker = nullptr;

    void set(Worker* w) {
        std::lock_guard lock(mutex);
        worker = w;
    }
    void stop() {
        std::lock_guard lock(mutex);
        if (worker != nullptr) {
            worker->stop();
        }
    }
};

std::jthread watch_signals(Current& current, std::atomic<bool>& stopping) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);  // inherited by every later thread
    return std::jthread([set, &current, &stopping] {
        for (;;) {
            int signo = 0;
            if (::sigwait(&set, &signo) != 0) {
                return;
            }
            if (stopping.exchange(true)) {
                std::_Exit(128 + signo);
            }
            std::cerr << "taskpool worker: stopping: finishing the jobs it holds\n";
            current.stop();
        }
    });
}

int serve(const WorkerOptions& o, Globals& g) {
    ::signal(SIGPIPE, SIG_IGN);  // a command that reads no stdin must not end the worker
    Current current;
    std::atomic<bool> stopping{false};
    auto signals = watch_signals(current, stopping);
    signals.detach();  // it ends with the process
    // The daemon may restart: connect again, waiting longer each time (to 5 s).
    std::mt19937 rng(std::random_device{}());
    double backoff = 0.1;
    while (!stopping) {
        auto worker = Worker::connect(g.addr, g.connect_options());
        if (worker) {
            for (const auto& task : split_tasks(o.tasks)) {
                worker->task(task, [&o](const json& args, JobContext& job) {
                    return run_job(o, args, job);
                });
            }
            current.set(&*worker);
            if (stopping) {
                worker->stop();
            }
            auto served = worker->run(o.concurrency, o.name);
            current.set(nullptr);
            if (served) {
                return exit_done;  // stopped
            }
            if (served.error().kind == ClientError::Kind::request) {
                g.fail(served.error());  // refused: a bad task name, a token without the scope
                return g.exit_code;
            }
            std::cerr << "taskpool worker: " << served.error().message << "\n";
            backoff = 0.1;  // it had connected: start again quickly
        } else if (worker.error().kind == ClientError::Kind::request) {
            g.fail(worker.error());
            return g.exit_code;
        } else {
            std::cerr << "taskpool worker: " << worker.error().message << "; trying again\n";
        }
        auto jitter = std::uniform_real_distribution<double>(0.8, 1.2)(rng);
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff * jitter));
        backoff = std::min(backoff * 2, 5.0);
    }
    return exit_done;
}

}  // namespace

void setup_worker(CLI::App& app, Globals& g) {
    auto o = std::make_shared<WorkerOptions>();
    auto* cmd = app.add_subcommand(
        "worker", "Serve tasks for the daemon from this host: run a command per job");
    cmd->add_option("task", o->tasks, "the task it serves (several: a,b,c)")->required();
    cmd->add_option("--concurrency,-c", o->concurrency, "jobs at once")
        ->check(whole_number(1, 1024))
        ->capture_default_str();
    cmd->add_option("--name", o->name, "how the daemon lists it (default: its address)");
    cmd->add_option("--output", o->output,
                    "text: the result is {exit_code, stdout, stderr, truncated}; json: "
                    "the JSON that stdout holds")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    cmd->footer(
        "After --, the command and its arguments: it gets the job's args as one JSON line "
        "on stdin, and TASKPOOL_JOB_ID and TASKPOOL_ATTEMPT; a line it writes on fd 3 "
        "is the job's progress; exit 0 succeeds. Example:\n"
        "  taskpool worker resize -- python3 resize.py");
    cmd->callback([o, &g] {
        o->command = g.command;
        if (o->command.empty()) {
            std::cerr << "taskpool worker: give the command after --: taskpool worker "
                         "TASK -- CMD ARGS...\n";
            g.exit_code = exit_usage;
            return;
        }
        g.exit_code = serve(*o, g);
    });
}

}  // namespace taskpool::cli
