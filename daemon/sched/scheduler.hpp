#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "callback_sink.hpp"
#include "daemon/tasks/registry.hpp"
#include "executor.hpp"
#include "job_id.hpp"
#include "job_observer.hpp"
#include "job_table.hpp"
#include "proto/reply.hpp"
#include "proto/request.hpp"
#include "proto/result.hpp"
#include "ready_queue.hpp"

namespace taskpool::daemon::sched {

/// A job to accept: what `submit` (and later each item of `map`) asks for.
struct JobSpec {
    std::string task;
    std::shared_ptr<const nlohmann::json> args;
    std::optional<std::string> key;
    proto::SubmitOptions options;
};

/// What `map` asks for: one job per item, all of one batch.
struct MapSpec {
    std::string task;
    std::vector<std::shared_ptr<const nlohmann::json>> items;
    proto::SubmitOptions options;
};

/// An accepted map: its batch id and its jobs, in the order of the items.
struct Batch {
    std::string id;
    std::vector<const proto::Job*> jobs;
};

/// Counts since start (submitted, finished by state) and gauges (queued, running).
struct JobCounts {
    std::uint64_t submitted = 0;
    std::uint64_t queued = 0;
    std::uint64_t running = 0;
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
    std::uint64_t cancelled = 0;
};

/// A waiting `get` or `submit`: called once with the job, when it has finished or
/// when the wait ran out.
struct Waiter {
    std::function<void(const proto::Job&)> done;
    std::unique_ptr<asio::steady_timer> timer;
};

/// The life of every job: accept (task and args checks, idempotency keys, the bounded
/// queue of its pool, `block_s`), start on a pool, time out, retry, cancel, finish,
/// wake waiters, tell the observer, retain and expire.
///
/// Reacts to events only (submits, pool outcomes, timers); never polls.
/// Thread-safety: every member is called on the io thread, which owns all state here.
class Scheduler {
public:
    struct Settings {
        std::size_t queue_max_size = 100000;
        double default_timeout_s = 0;
        double result_ttl_s = 3600;
        std::size_t max_retained = 100000;
    };

    Scheduler(asio::io_context& io, const tasks::TaskRegistry& tasks, Settings settings,
              JobObserver& observer);
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    /// The pool that runs jobs of this kind; a pool with none takes no jobs.
    void set_executor(proto::PoolKind pool, Executor* executor);
    Executor* executor(proto::PoolKind pool) const;
    /// Where finished jobs with a `callback` go; none: callbacks are refused.
    void set_callback_sink(CallbackSink* sink) { callbacks_ = sink; }

    /// Accepts a job, or fails at once: no_such_task, bad_request, queue_full,
    /// shutting_down. A known idempotency key returns that job and starts nothing.
    proto::Result<const proto::Job*> submit(JobSpec spec);
    /// As submit(), but a full queue makes it wait up to `block_s` for room.
    void submit_blocking(JobSpec spec, double block_s,
                         std::function<void(proto::Result<const proto::Job*>)> done);
    /// Accepts every item as a job of one new batch, or none: an item that fails
    /// its check fails the whole map (bad_request naming `items[i]`), and a queue
    /// without room for all of them gives queue_full.
    proto::Result<Batch> submit_map(MapSpec spec);
    /// As submit_map(), but waits up to `block_s` for room for every item.
    void submit_map_blocking(MapSpec spec, double block_s,
                             std::function<void(proto::Result<Batch>)> done);

    const proto::Job* find(std::string_view id);
    /// Calls `done` once the job is final, or after `seconds` (infinity: no limit)
    /// with the job as it is then. The job must exist.
    void wait(std::string_view id, double seconds, std::function<void(const proto::Job&)> done);
    /// Cancels a queued or running job: no_such_job, not_cancellable.
    proto::Result<const proto::Job*> cancel(std::string_view id);
    /// Jobs newest first, optionally only those in `state`.
    std::vector<const proto::Job*> list(std::optional<proto::JobState> state, std::size_t limit);

    JobCounts counts() const { return counts_; }
    std::size_t queued(proto::PoolKind pool) const { return queue(pool).size(); }

    /// From now on submits get shutting_down. With `cancel_all` the queued and
    /// running jobs are cancelled (code `shutdown`). `on_idle` runs once no job is
    /// queued or running (at once if none is).
    void begin_shutdown(bool cancel_all, std::function<void()> on_idle);

    /// A pool reports how an attempt ended.
    void on_outcome(RunOutcome outcome);
    /// A pool has an idle worker again (a replaced worker process).
    void capacity_changed() { schedule_dispatch(); }

private:
    using Queue = ReadyQueue<JobRecord*>;
    struct BlockedSubmit;

    Queue& queue(proto::PoolKind pool) { return queues_[static_cast<std::size_t>(pool)]; }
    const Queue& queue(proto::PoolKind pool) const {
        return queues_[static_cast<std::size_t>(pool)];
    }
    struct BatchRecord {
        std::size_t pending = 0;
        proto::BatchCounts counts;
    };

    /// The task and pool a job would run with, or why it cannot be accepted.
    proto::Result<void> resolve(const std::string& task_name, const proto::SubmitOptions& options,
                                const tasks::Task*& task, proto::PoolKind& pool) const;
    proto::Result<void> check(const JobSpec& spec, const tasks::Task*& task,
                              proto::PoolKind& pool) const;
    /// The checks a map passes before any of its jobs is accepted.
    proto::Result<void> check_map(const MapSpec& spec, const tasks::Task*& task,
                                  proto::PoolKind& pool) const;
    proto::Error queue_full(proto::PoolKind pool) const;
    proto::Error shutting_down() const;
    bool has_room(proto::PoolKind pool, std::size_t jobs) const {
        return queue(pool).size() + jobs <= settings_.queue_max_size;
    }
    /// Creates the job's record and queues it.
    JobRecord& accept(const tasks::Task& task, proto::PoolKind pool, std::string task_name,
                      std::shared_ptr<const nlohmann::json> args,
                      const proto::SubmitOptions& options, std::optional<std::string> key,
                      const std::optional<std::string>& batch);
    /// Parks a submit or map until its pool's queue has room for `jobs`: then
    /// `admit` runs; after `block_s`, or at shutdown, `refuse` gets the reason.
    void block(proto::PoolKind pool, std::size_t jobs, double block_s, std::function<void()> admit,
               std::function<void(proto::Error)> refuse);
    void enqueue(JobRecord& r);
    void schedule_dispatch();
    void dispatch();
    void start(JobRecord& r, Executor& executor);
    void fail_attempt(JobRecord& r, proto::JobError error);
    void finish(JobRecord& r, proto::JobState state);
    void stop_running(JobRecord& r);
    void on_timeout(const std::string& id, int attempt);
    void admit_blocked(proto::PoolKind pool);
    void count_in_batch(const std::string& batch, proto::JobState state);
    void arm_retention_timer();
    void check_idle();

    asio::io_context& io_;
    const tasks::TaskRegistry& tasks_;
    Settings settings_;
    JobObserver& observer_;
    JobTable table_;
    IdGenerator ids_;
    std::array<Queue, 2> queues_;
    std::array<Executor*, 2> executors_{};
    CallbackSink* callbacks_ = nullptr;
    std::array<std::deque<std::shared_ptr<BlockedSubmit>>, 2> blocked_;
    std::unordered_map<std::string, BatchRecord> batches_;
    asio::steady_timer retention_timer_;
    std::optional<SteadyTime> retention_due_;
    JobCounts counts_;
    std::uint64_t next_seq_ = 1;
    bool dispatch_posted_ = false;
    bool shutting_down_ = false;
    std::function<void()> on_idle_;
};

}  // namespace taskpool::daemon::sched
