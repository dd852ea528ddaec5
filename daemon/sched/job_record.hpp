#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <asio/steady_timer.hpp>

#include "daemon/base/callback.hpp"
#include "stored_job.hpp"

namespace taskpool::daemon::tasks {
struct Task;
}

namespace taskpool::daemon::sched {

using SteadyTime = std::chrono::steady_clock::time_point;

/// A waiting `get` or `submit`: called once with the job, when it has finished or
/// when its wait ran out.
struct Waiter {
    base::Callback<void(const proto::Job&)> done;
    std::unique_ptr<asio::steady_timer> timer;  // where the wait has a bound
    std::uint64_t serial = 0;                   // which waiter the timer ends
};

/// A job and what the scheduler keeps about it: what a store keeps, and the state
/// of its run, which lives only here.
struct JobRecord : StoredJob {
    const tasks::Task* task = nullptr;
    std::uint64_t run_handle = 0;  // the pool's handle of the attempt it holds; 0: none
    bool holds_slot = false;       // with a run handle: counted by its named queue
    std::unique_ptr<asio::steady_timer> timeout_timer;  // while running with a timeout
    std::vector<Waiter> waiters;
    int unmet = 0;  // while `waiting`: the jobs named in `after` yet to succeed
    /// A shared store's: the map whose follow-up this job is, submitted once.
    proto::Boxed<std::string> follows;
};

}  // namespace taskpool::daemon::sched
