#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <variant>

#include "proto/error.hpp"
#include "proto/job.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::tasks {

/// What a running task may consult. `stop` is requested on cancel, timeout and
/// shutdown; a task that can stop checks it and returns early.
struct TaskContext {
    std::stop_token stop;
    std::string_view job_id;
    int attempt = 1;
    /// Told the process group of a child the task starts. In a worker process it
    /// reaches the daemon, which kills that group with the worker; empty elsewhere.
    std::function<void(pid_t pgid)> on_child;
    /// Tells how far the task has got: the job's `progress`, pushed to those who
    /// watch it. Any thread may call it while the task runs; the latest value wins.
    std::function<void(proto::RawJson progress)> progress;
};

/// A task's result (any JSON value, as its text) or its failure.
using TaskOutcome = std::variant<proto::RawJson, proto::JobError>;

/// A named unit of work a job can run.
struct Task {
    std::string name;
    proto::PoolKind pool = proto::PoolKind::thread;  // where it runs unless a job says
    std::string kind = "builtin";
    std::string description;
    /// The timeout of a job that names none (else jobs.default_timeout_s applies).
    std::optional<double> timeout_s;
    /// The named queue of a job that names none (PROTOCOL.md 12).
    std::optional<std::string> queue;
    /// False for a task that cannot honour a stop request on the thread pool.
    bool cancellable = true;
    bool runs_on_thread = true;
    bool runs_on_process = true;
    /// Checks the args at submit time; errors are bad_request naming the field.
    std::function<proto::Result<void>(const proto::RawJson& args)> check;
    /// Runs the task. May be called on any thread; must not throw (a throw is caught
    /// and becomes task_error, but says the task is wrong). The args are text: a
    /// task that reads fields parses them, one that passes them on does not.
    std::function<TaskOutcome(const proto::RawJson& args, const TaskContext& ctx)> run;

    bool runs_on(proto::PoolKind p) const {
        switch (p) {
            case proto::PoolKind::thread:
                return runs_on_thread;
            case proto::PoolKind::process:
                return runs_on_process;
            case proto::PoolKind::remote:
                return pool == proto::PoolKind::remote;
        }
        return false;
    }
};

}  // namespace taskpool::daemon::tasks
