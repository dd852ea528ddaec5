#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <limits>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "job_flags.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

struct SubmitOptions {
    std::string task;
    std::string args = "null";
    JobFlags job;
    std::optional<std::string> key;
    std::optional<double> wait_s;
    bool detach = false;
    bool progress = false;               // tell the job's progress on stderr (always on a terminal)
    std::optional<std::string> on_done;  // shell command, the job's JSON on stdin
    std::optional<std::string> on_error;  // the same, when it failed or was cancelled
};

/// Runs `command` with sh, the job's JSON on its stdin; false if it did not exit 0.
bool run_hook(const std::string& command, const proto::Job& job) {
    std::cout.flush();
    FILE* pipe = ::popen(command.c_str(), "w");
    if (pipe == nullptr) {
        std::cerr << "taskpool: cannot run '" << command << "'\n";
        return false;
    }
    // A hook need not read its stdin: if it exits first, the write fails with EPIPE
    // instead of SIGPIPE ending us. Ignored only now, after popen, so that the hook
    // itself starts with SIGPIPE as it was.
    struct sigaction ignore {};
    struct sigaction previous {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, &previous);
    std::string line = proto::encode_job(job) + "\n";
    std::fwrite(line.data(), 1, line.size(), pipe);
    int status = ::pclose(pipe);
    ::sigaction(SIGPIPE, &previous, nullptr);
    if (status != 0) {
        std::cerr << "taskpool: '" << command << "' "
                  << (WIFEXITED(status)
                          ? "exited with status " + std::to_string(WEXITSTATUS(status))
                          : std::string("failed"))
                  << "\n";
        return false;
    }
    return true;
}

/// Tells each progress of `job` on stderr until it has finished or `wait_s` has
/// passed, and returns it as it is then. On a terminal one line is redrawn; else
/// each progress is a line of its own.
ClientResult<proto::Job> follow(Client& client, const proto::Job& job,
                                std::optional<double> wait_s) {
    bool terminal = ::isatty(STDERR_FILENO) != 0;
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(wait_s.value_or(1e9)));
    bool drawn = false;
    for (;;) {
        std::chrono::duration<double> left = deadline - std::chrono::steady_clock::now();
        auto event = client.next_event(std::max(left.count(), 0.0));
        if (!event && event.error().kind == ClientError::Kind::timeout) {
            break;  // as it is now, unfinished
        }
        if (!event) {
            return event.error();
        }
        if (event->name == "job.progress" && event->body.value("job", "") == job.id) {
            std::string text = "progress: " + event->body["progress"].dump();
            std::cerr << (terminal ? "\r\033[K" + text : text + "\n") << std::flush;
            drawn = terminal;
        } else if (event->name == "job.finished") {
            auto finished = proto::decode_job(event->body.value("job", nlohmann::json()));
            if (finished && finished->id == job.id) {
                if (drawn) {
                    std::cerr << "\r\033[K" << std::flush;
                }
                return std::move(*finished);
            }
        }
    }
    if (drawn) {
        std::cerr << "\n";
    }
    return client.get(job.id);
}

int run_submit(const SubmitOptions& o, Globals& g) {
    auto args = nlohmann::json::parse(o.args, nullptr, false);
    if (args.is_discarded()) {
        std::cerr << "taskpool: ARGS is not valid JSON: " << o.args << "\n";
        return exit_usage;
    }
    auto client = g.connect();
    if (!client) {
        return g.exit_code;
    }
    proto::SubmitOptions options = o.job.options();
    bool follow_progress = !o.detach && (o.progress || ::isatty(STDERR_FILENO) != 0);
    if (follow_progress) {
        options.notify = true;  // its progress and its end come as events
    } else if (!o.detach) {
        options.wait = o.wait_s.value_or(std::numeric_limits<double>::infinity());
    }
    auto job = client->submit(o.task, std::move(args), options, o.key);
    if (job && follow_progress && !proto::is_final(job->state)) {
        job = follow(*client, *job, o.wait_s);
    }
    if (!job) {
        g.fail(job.error());
        return g.exit_code;
    }
    if (o.detach) {
        if (g.json) {
            print_outcome(*job, true);
        } else {
            std::cout << job->id << "\n";
        }
        return exit_done;
    }
    print_outcome(*job, g.json);
    int code = exit_code_for(*job);
    const auto& hook = code == exit_done ? o.on_done : o.on_error;
    if (hook && proto::is_final(job->state) && !run_hook(*hook, *job) && code == exit_done) {
        code = exit_job_failed;
    }
    return code;
}

}  // namespace

void setup_submit(CLI::App& app, Globals& g) {
    auto o = std::make_shared<SubmitOptions>();
    auto* cmd = app.add_subcommand("submit", "Submit a job, wait for it and print its result");
    cmd->add_option("task", o->task, "the task to run")->required();
    cmd->add_option("args", o->args, "the job's args as JSON, e.g. '{\"n\":30}'");
    o->job.add_to(*cmd);
    cmd->add_option("--key", o->key, "idempotency key: a second submit returns the first job");
    cmd->add_option("--wait", o->wait_s, "wait at most this many seconds (exit 4 if unfinished)");
    auto* detach =
        cmd->add_flag("--detach,-d", o->detach, "print the job id and return without waiting");
    cmd->add_flag("--progress", o->progress,
                  "print the job's progress on stderr as it comes (always on a terminal)")
        ->excludes(detach);
    cmd->add_option("--on-done", o->on_done,
                    "when it succeeds, run this shell command with the job's JSON on stdin")
        ->excludes(detach);
    cmd->add_option("--on-error", o->on_error,
                    "when it fails or is cancelled, run this command with the job's JSON on stdin")
        ->excludes(detach);
    cmd->callback([o, &g] { g.exit_code = run_submit(*o, g); });
}

}  // namespace taskpool::cli
