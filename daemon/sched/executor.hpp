#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/tasks/task.hpp"
#include "proto/job.hpp"

namespace taskpool::daemon::sched {

/// One attempt of one job, handed to a pool. The pool reports it by the job's
/// `seq` (its key in the store, a number to look up) and the attempt; the task is
/// told the job's id.
struct Run {
    std::uint64_t seq = 0;
    std::string job_id;
    int attempt = 0;
    int priority = 0;  // among the runs a pool holds, higher begins first
    const tasks::Task* task = nullptr;
    proto::RawJson args;
    /// The job itself, for a pool on the io thread (remote workers are sent the
    /// job object); valid during start() only.
    const proto::Job* job = nullptr;
    std::optional<double> timeout_s;  // the attempt's, where it has one
};

/// Why a run is stopped: a remote worker is told.
enum class StopReason { cancelled, timeout };

/// A run that a worker has begun.
struct RunStarted {
    std::uint64_t seq = 0;
    int attempt = 0;
    proto::Shared<proto::WorkerInfo> worker;  // one per worker, shared by its jobs
    proto::Timestamp at;
};

/// How an attempt ended, as the pool reports it.
struct RunOutcome {
    std::uint64_t seq = 0;
    int attempt = 0;
    tasks::TaskOutcome outcome;
};

/// A worker as `stats` shows it.
struct WorkerStatus {
    std::int64_t pid = 0;
    std::string state;  // idle | busy | ...
    std::uint64_t jobs = 0;
    std::size_t waiting = 0;       // runs it holds behind the one it runs
    std::size_t memory_bytes = 0;  // resident, where the pool can tell
};

/// What a pool tells of its runs, on the io thread: a run began (always before its
/// outcome), a run ended, a run handed over will not begin there after all (the
/// worker holding it died, or, though reported begun, it never took it: it hung)
/// and is to be queued again without counting an attempt, and there is room for
/// runs again for another reason than a run that ended (a replaced worker).
struct RunEvents {
    std::function<void(RunStarted)> started;
    std::function<void(RunOutcome)> finished;
    std::function<void(std::uint64_t seq, int attempt)> returned;
    std::function<void()> capacity;
    /// A running task told how far it has got (`job.progress`).
    std::function<void(std::uint64_t seq, int attempt, proto::RawJson progress)> progress;
};

/// The small interface both pools implement. The scheduler calls it on the io
/// thread only; a pool reports through the RunEvents it was given at construction.
///
/// A pool may hold a few runs beyond its idle workers, so that a worker that ends a
/// run begins the next without waiting for the io thread: a run handed over is
/// still queued until the pool reports it started.
class Executor {
public:
    virtual ~Executor() = default;

    virtual std::size_t size() const = 0;
    virtual std::size_t busy() const = 0;
    /// True when start() can take a run now.
    virtual bool can_take() const = 0;
    /// For a pool whose workers each serve some tasks: the tasks some worker has
    /// room for now, for which start() can take a run. None: any task.
    virtual std::optional<std::vector<std::string_view>> tasks_with_room() const {
        return std::nullopt;
    }
    /// How many more runs start() takes now, about.
    virtual std::size_t room() const { return can_take() ? 1 : 0; }
    /// Hands `run` over; returns a handle for stop().
    virtual std::uint64_t start(Run run) = 0;
    /// Ends the run with this handle. True: it had not begun, and nothing more is
    /// reported of it. False: it runs and is asked to stop; what is reported of it
    /// from now on is stale, the scheduler has already ended the attempt.
    virtual bool stop(std::uint64_t handle, StopReason reason) = 0;
    virtual std::vector<WorkerStatus> workers() const = 0;
    /// Grows or shrinks to `size` workers. Growing starts workers now; shrinking
    /// retires idle workers first and busy ones when their job ends: it never
    /// stops a running job. size() reports the new size at once.
    virtual void resize(std::size_t size) = 0;
    /// Stops every run and the workers, and waits for them. Called once, at exit.
    virtual void shutdown() = 0;
};

}  // namespace taskpool::daemon::sched
