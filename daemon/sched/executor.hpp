#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/tasks/task.hpp"
#include "proto/job.hpp"

namespace taskpool::daemon::sched {

/// One attempt of one job, handed to a pool.
struct Run {
    std::string job_id;
    int attempt = 0;
    const tasks::Task* task = nullptr;
    std::shared_ptr<const nlohmann::json> args;
};

/// How an attempt ended, as the pool reports it.
struct RunOutcome {
    std::string job_id;
    int attempt = 0;
    tasks::TaskOutcome outcome;
};

/// A worker as `stats` shows it.
struct WorkerStatus {
    std::int64_t pid = 0;
    std::string state;  // idle | busy | ...
    std::uint64_t jobs = 0;
};

/// The small interface both pools implement. The scheduler calls it on the io
/// thread only; a pool reports each outcome through the callback it was given at
/// construction, also on the io thread.
class Executor {
public:
    using OnOutcome = std::function<void(RunOutcome)>;

    virtual ~Executor() = default;

    virtual std::size_t size() const = 0;
    virtual std::size_t busy() const = 0;
    /// True when start() can take a run now.
    virtual bool has_idle() const = 0;
    /// Starts `run` on an idle worker; returns where it runs and a handle for stop().
    virtual std::pair<proto::WorkerInfo, std::uint64_t> start(Run run) = 0;
    /// Asks the run with this handle to stop. Its outcome, when it comes, is stale:
    /// the scheduler has already ended the attempt.
    virtual void stop(std::uint64_t handle) = 0;
    virtual std::vector<WorkerStatus> workers() const = 0;
    /// Grows or shrinks to `size` workers. Growing starts workers now; shrinking
    /// retires idle workers first and busy ones when their job ends: it never
    /// stops a running job. size() reports the new size at once.
    virtual void resize(std::size_t size) = 0;
    /// Stops every run and the workers, and waits for them. Called once, at exit.
    virtual void shutdown() = 0;
};

}  // namespace taskpool::daemon::sched
