#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "daemon/sched/executor.hpp"

namespace taskpool::daemon::pools {

// The lines the daemon and a worker process exchange over their socketpair, one
// JSON object each, framed like client lines:
//   worker -> daemon  {"ready":true}, once, when it is set up
//   daemon -> worker  {"job": id, "attempt": n, "task": name, "args": ...}
//   worker -> daemon  {"job": id, "attempt": n, "result": ...}
//                  or {"job": id, "attempt": n, "error": {"code": ..., "message": ...}}

inline constexpr std::string_view worker_ready_line = R"({"ready":true})";

/// A run to send to a worker (LF included).
std::string encode_run(const sched::Run& run);

/// A run as the worker reads it; the task is looked up by name on its side.
struct WorkerRun {
    std::string job_id;
    int attempt = 0;
    std::string task;
    nlohmann::json args;
};
std::optional<WorkerRun> decode_run(std::string_view line);

/// An outcome to send back (LF included).
std::string encode_outcome(const std::string& job_id, int attempt,
                           const tasks::TaskOutcome& outcome);
std::optional<sched::RunOutcome> decode_outcome(std::string_view line);

}  // namespace taskpool::daemon::pools
