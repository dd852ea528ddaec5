#pragma once

#include <functional>
#include <stop_token>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "proto/error.hpp"
#include "proto/job.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::tasks {

/// What a running task may consult. `stop` is requested on cancel, timeout and
/// shutdown; a task that can stop checks it and returns early.
struct TaskContext {
    std::stop_token stop;
};

/// A task's result (any JSON value) or its failure.
using TaskOutcome = std::variant<nlohmann::json, proto::JobError>;

/// A named unit of work a job can run.
struct Task {
    std::string name;
    proto::PoolKind pool = proto::PoolKind::thread;  // where it runs unless a job says
    std::string kind = "builtin";
    std::string description;
    /// False for a task that cannot honour a stop request on the thread pool.
    bool cancellable = true;
    bool runs_on_thread = true;
    bool runs_on_process = true;
    /// Checks the args at submit time; errors are bad_request naming the field.
    std::function<proto::Result<void>(const nlohmann::json& args)> check;
    /// Runs the task. May be called on any thread; must not throw (a throw is caught
    /// and becomes task_error, but says the task is wrong).
    std::function<TaskOutcome(const nlohmann::json& args, const TaskContext& ctx)> run;

    bool runs_on(proto::PoolKind p) const {
        return p == proto::PoolKind::thread ? runs_on_thread : runs_on_process;
    }
};

}  // namespace taskpool::daemon::tasks
