#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "daemon/sched/executor.hpp"
#include "daemon/tasks/registry.hpp"

namespace taskpool::daemon::pools {

// The lines the daemon and a worker process exchange over their socketpair, one
// JSON object each, framed like client lines:
//   daemon -> worker  {"setup": {"test_tasks", "tasks", "plugins", "addr"}}, first
//   worker -> daemon  {"ready":true}, once, when it is set up
//   daemon -> worker  {"job": id, "attempt": n, "task": name, "args": ...}
//   worker -> daemon  {"job": id, "attempt": n, "child": pgid}
//                     when the task starts a command in its own process group
//   worker -> daemon  {"job": id, "attempt": n, "progress": ...}
//                     when the task tells how far it has got
//   worker -> daemon  {"job": id, "attempt": n, "us": run time, "result": ...}
//                  or {"job": id, "attempt": n, "us": run time,
//                      "error": {"code": ..., "message": ...}}

inline constexpr std::string_view worker_ready_line = R"({"ready":true})";

/// How a worker process ends, by its exit status.
enum class WorkerExit : int {
    done = 0,               // the channel closed: the daemon let it go
    orphaned = 1,           // the daemon died before the worker started
    bad_line = 2,           // a line from the daemon it could not decode
    cannot_drop_user = 3,   // could not become process_pool.user
    cannot_load_tasks = 4,  // a task or a plugin failed to register
};

/// What an exit status of a worker means, for a log line; empty for one that is
/// not a WorkerExit (a signal, a crash in a task).
std::string_view worker_exit_meaning(int wait_status);

/// Writes all of `data` to a blocking descriptor (a channel end); false if the
/// peer is gone.
bool write_all(int fd, std::string_view data);

/// The setup line (LF included). Credentials are not sent: a worker already runs
/// as the user its commands run as.
std::string encode_setup(const tasks::TaskSetup& setup);
/// The setup line, or why it is not one.
proto::Result<tasks::TaskSetup> decode_setup(std::string_view line);

/// Appends a run to send to a worker (LF included) to `out`.
void encode_run(const sched::Run& run, std::string& out);

/// A run as the worker reads it; the task is looked up by name on its side.
struct WorkerRun {
    std::string job_id;
    int attempt = 0;
    std::string task;
    proto::RawJson args;
};
/// A run line, or why it is not one.
proto::Result<WorkerRun> decode_run(std::string_view line);

/// A command the run started, in process group `pgid` (LF included).
std::string encode_child(const std::string& job_id, int attempt, pid_t pgid);

/// How far the run has got (LF included).
std::string encode_progress(const std::string& job_id, int attempt, const proto::RawJson& progress);

/// An outcome to send back, with how long the task ran (LF included).
std::string encode_outcome(const std::string& job_id, int attempt,
                           const tasks::TaskOutcome& outcome, std::chrono::microseconds ran);

/// What a worker reports about a run: a child it started, its progress, or how
/// the run ended.
struct ChildStarted {
    std::string job_id;
    pid_t pgid = 0;
};
struct Progressed {
    std::string job_id;
    int attempt = 0;
    proto::RawJson progress;
};
struct RunEnded {
    std::string job_id;
    int attempt = 0;
    tasks::TaskOutcome outcome;
    std::chrono::microseconds ran{0};
};
using WorkerReport = std::variant<ChildStarted, Progressed, RunEnded>;
/// A report line, or why it is not one.
proto::Result<WorkerReport> decode_report(std::string_view line);

}  // namespace taskpool::daemon::pools
