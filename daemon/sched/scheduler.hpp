#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "daemon/base/soonest_timer.hpp"
#include "due_queue.hpp"
#include "executor.hpp"
#include "job_id.hpp"
#include "job_record.hpp"
#include "job_store.hpp"
#include "proto/reply.hpp"
#include "proto/request.hpp"
#include "proto/result.hpp"
#include "queues.hpp"

namespace taskpool::daemon::tasks {
class TaskRegistry;
}

namespace taskpool::daemon::sched {

class CallbackSink;
class JobObserver;

/// A job to accept: what `submit` (and later each item of `map`) asks for.
struct JobSpec {
    std::string task;
    proto::RawJson args;
    std::optional<std::string> key;
    proto::SubmitOptions options;
    proto::Shared<std::string> submitted_by;  // the token's name
    proto::Shared<std::string> schedule;      // the schedule that fires it
};

/// What `map` asks for: one job per item, all of one batch.
struct MapSpec {
    std::string task;
    std::vector<proto::RawJson> items;
    proto::SubmitOptions options;
    proto::Shared<std::string> submitted_by;  // the token's name
};

/// An accepted map: its batch id and its jobs, in the order of the items.
struct Batch {
    std::string id;
    std::vector<const proto::Job*> jobs;
};

/// Counts since start (submitted, finished by state) and gauges (queued, running).
struct JobCounts {
    std::uint64_t submitted = 0;
    std::uint64_t scheduled = 0;
    std::uint64_t waiting = 0;
    std::uint64_t queued = 0;
    std::uint64_t running = 0;
    std::uint64_t succeeded = 0;
    std::uint64_t failed = 0;
    std::uint64_t cancelled = 0;
};

/// The life of every job: accept (task and args checks, idempotency keys, the bounded
/// queue of its pool, `block_s`), start on a pool, time out, retry, cancel, finish,
/// wake waiters, tell the observer, retain and expire.
///
/// Jobs are kept by a JobStore, told of every change: a job is accepted (known,
/// queued, acknowledged) only once the store has made it durable, and a finished job
/// is announced (waiters, events, webhooks) only once its end is, so what a client is
/// told survives a crash where the store keeps jobs past the daemon.
///
/// Reacts to events only (submits, pool outcomes, timers); never polls.
/// Thread-safety: every member is called on the io thread, which owns all state here.
class Scheduler {
public:
    struct Settings {
        std::size_t queue_max_size = 100000;
        double default_timeout_s = 0;
        double backoff_s = 0;  // retries.backoff_s: before a job's second attempt
        double max_backoff_s = 300;
    };

    /// `observers` are told of every start and end, in this order.
    Scheduler(asio::io_context& io, const tasks::TaskRegistry& tasks, JobStore& store,
              Settings settings, std::vector<JobObserver*> observers);
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    /// The pool that runs jobs of this kind; a pool with none takes no jobs.
    void set_executor(proto::PoolKind pool, Executor* executor);
    Executor* executor(proto::PoolKind pool) const;
    /// Where finished jobs with a `callback` go; none: callbacks are refused.
    void set_callback_sink(CallbackSink* sink) { callbacks_ = sink; }

    /// Takes back what the store kept: queued jobs queue again in their order, a
    /// job that was running runs again if it has retries left or else fails with
    /// `lost`, and finished jobs stay until their retention ends. Before any submit.
    void restore(std::vector<StoredJob> jobs);

    using SubmitDone = base::Callback<void(proto::Result<const proto::Job*>)>;
    using MapDone = base::Callback<void(proto::Result<Batch>)>;
    /// Accepts a job and calls `done` with it (once the store has made it durable),
    /// or with why not: no_such_task, bad_request, queue_full (when the queue stays
    /// full for `block_s`), shutting_down, unavailable (the store cannot keep it). A
    /// known idempotency key gives that job and starts nothing.
    void submit(JobSpec spec, double block_s, SubmitDone done);
    /// Accepts every item as a job of one new batch, or none: an item that fails
    /// its check fails the whole map (bad_request naming `items[i]`), and a queue
    /// without room for all of them (for `block_s`) gives queue_full.
    void submit_map(MapSpec spec, double block_s, MapDone done);
    /// Whether a job of this spec would be accepted, as far as its task, pool,
    /// args and follow-ups go (not its queue's room): a schedule's, when it is set.
    proto::Result<void> check(const JobSpec& spec) const;

    /// A job in this process (one it runs, or one a waiter waits for); nullptr if none.
    const proto::Job* find(std::string_view id);
    /// Finds jobs wherever the store keeps them: nullptr for an unknown id.
    void lookup(std::span<const std::string> ids, JobStore::Found found) {
        store_.lookup(ids, std::move(found));
    }
    /// The job as it is in `done` (valid for the call), or no_such_job.
    using JobDone = base::Callback<void(proto::Result<const proto::Job*>)>;
    /// Calls `done` with the job once it is final and its end durable, or after
    /// `seconds` (0: at once; infinity: no limit) with the job as it is then.
    void get(const std::string& id, double seconds, JobDone done);
    /// The same for a job in this process, which must exist.
    void wait(std::string_view id, double seconds, base::Callback<void(const proto::Job&)> done);
    /// Cancels a queued or running job: no_such_job, not_cancellable. `done` (if
    /// any) gets the cancelled job.
    void cancel(const std::string& id, JobDone done);
    /// Queues a failed or cancelled job again under its id, its attempts going on:
    /// no_such_job, not_retryable, shutting_down. `done` gets the queued job.
    void retry(const std::string& id, JobDone done);
    /// Jobs newest first, only those in `query.state` and with ids that start with
    /// `query.prefix` where given.
    void list(const proto::ListRequest& query, JobStore::Listed listed) {
        store_.list(query, std::move(listed));
    }

    /// Runs `f` once every change so far is durable (at once where the store keeps
    /// nothing past the daemon): a reply that reports a change waits for it.
    void when_durable(base::Callback<void()> f) { store_.when_durable(std::move(f)); }

    // Named queues and pauses (PROTOCOL.md 12).

    /// Sets what `set` gives of a queue's limits (creating it), and starts what
    /// they now allow.
    proto::Result<proto::QueueInfo> set_queue(const proto::QueueSetRequest& set);
    /// Every queue that a config, an op or a job has named, by name.
    std::vector<proto::QueueInfo> list_queues();
    /// A paused queue or pool starts no job; running ones go on.
    proto::Result<proto::QueueInfo> pause_queue(std::string_view queue, bool paused);
    void pause_pool(proto::PoolKind pool, bool paused);
    /// A queue's limits and pause as the config or the journal has them (what
    /// `set` names, over what the queue has), before any job runs: the store is
    /// not told.
    void restore_queue(const proto::QueueSetRequest& set, bool paused);
    void restore_paused_pool(proto::PoolKind pool) {
        paused_[static_cast<std::size_t>(pool)] = true;
    }
    bool paused(proto::PoolKind pool) const { return paused_[static_cast<std::size_t>(pool)]; }

    JobCounts counts() const { return counts_; }
    /// False once shutdown has begun (submits get shutting_down).
    bool accepting() const { return !shutting_down_; }
    std::size_t queued(proto::PoolKind pool) const {
        return store_.runnable(pool) + handed_[static_cast<std::size_t>(pool)];
    }

    /// From now on submits get shutting_down. With `now`, nothing more starts and the
    /// running jobs are stopped: where the store keeps jobs past the daemon they go
    /// back to queued without counting the attempt, and queued jobs stay as they are,
    /// for the restart (a stop leaves the queue no worse off than a kill -9);
    /// elsewhere queued and running jobs are cancelled (code `shutdown`). A drain
    /// (not `now`) runs the queue but what a paused queue or pool holds, which is
    /// kept or cancelled likewise. `on_idle` runs once no job is running, nor
    /// queued unless kept (at once if none is).
    void begin_shutdown(bool now, std::function<void()> on_idle);

    /// Where the pools report their runs.
    RunEvents run_events();
    /// A pool reports that a worker began a run.
    void on_started(RunStarted started);
    /// A pool reports how an attempt ended.
    void on_outcome(RunOutcome outcome);
    /// A pool gives back a run it was handed and did not begin.
    void on_returned(std::uint64_t seq, int attempt);
    /// A running task tells how far it has got: kept as the job's `progress`, and
    /// told to the observers.
    void on_progress(std::uint64_t seq, int attempt, proto::RawJson progress);
    /// A pool can take runs again (a resize, a replaced worker process).
    void capacity_changed() { schedule_dispatch(); }
    /// A shared store: another node ended (or cancelled) the job a record here
    /// stands for. A run of it here stops, the record takes the end, and waiters
    /// here are answered; the events are the other node's to send.
    void ended_elsewhere(JobRecord& r, proto::Job ended);
    /// The store cannot be reached: every waiter is answered now with the job as
    /// last known.
    void answer_waiters_now();
    /// A job this daemon made final (in a shared store, perhaps without running it):
    /// its end, and its batch's, are announced; a map's follow-up the store found
    /// due is submitted first.
    void announce_end(JobRecord& r, const JobStore::Ended& ended);
    /// A shared store's map whose follow-up is due: submitted, once for the cluster.
    proto::Result<std::string> follow_up(const JobStore::FollowUp& follow);

private:
    struct BlockedSubmit;
    struct BatchRecord {
        std::size_t pending = 0;     // jobs whose end is not announced yet
        std::size_t unfinished = 0;  // jobs not final yet
        proto::BatchEnd end;         // its counts, of the ends announced
        /// A map with `then`: its jobs in item order, for their results, and how
        /// many it had (fewer come back after a restart once some have expired).
        proto::Boxed<proto::RawJson> then;
        std::vector<std::uint64_t> jobs;
        std::size_t size = 0;
    };

    /// The task and pool a job would run with, or why it cannot be accepted.
    proto::Result<void> resolve(const std::string& task_name, const proto::SubmitOptions& options,
                                const tasks::Task*& task, proto::PoolKind& pool) const;
    proto::Result<void> check(const JobSpec& spec, const tasks::Task*& task,
                              proto::PoolKind& pool) const;
    /// The task and pool of each follow-up down a chain of `then`.
    proto::Result<void> check_then(const proto::SubmitOptions& options) const;
    /// The checks a map passes before any of its jobs is accepted; one due later
    /// takes no room in the queue yet.
    proto::Result<void> check_map(const MapSpec& spec, bool due_later, const tasks::Task*& task,
                                  proto::PoolKind& pool) const;
    proto::Error queue_full(proto::PoolKind pool) const;
    proto::Error shutting_down() const;
    bool has_room(proto::PoolKind pool, std::size_t jobs) const {
        return queued(pool) + store_.adding(pool) + jobs <= settings_.queue_max_size;
    }
    /// A new job's record.
    JobRecord make_record(const tasks::Task& task, proto::PoolKind pool, std::string task_name,
                          proto::RawJson args, const proto::SubmitOptions& options,
                          std::optional<std::string> key, const std::optional<std::string>& batch,
                          std::optional<proto::Timestamp> due);
    /// New jobs the store has made known: counted, and queued. False when the
    /// store refused them (`unavailable`): nothing was accepted.
    bool admitted(const proto::Result<std::span<JobRecord* const>>& added);
    proto::Error unavailable() const;
    /// True when the pool's queue has room for `jobs`. Else the request is answered
    /// with queue_full, or with `block_s` parked and made `again` once there is room.
    template <class Spec, class Done>
    bool room_for(proto::PoolKind pool, std::size_t jobs, double block_s, Spec& spec, Done& done,
                  void (Scheduler::*again)(Spec, double, Done));
    /// Parks the request for `block_s`, or answers it with `full` at once.
    template <class Spec, class Done>
    void park(proto::PoolKind pool, std::size_t jobs, double block_s, proto::Error full, Spec spec,
              Done done, void (Scheduler::*again)(Spec, double, Done));
    /// A shared store found the queue full: true if the request (a copy in `spec`
    /// where it may wait) was parked.
    template <class Spec, class Done>
    bool parked_when_full(const proto::Error& error, proto::PoolKind pool, std::size_t jobs,
                          double block_s, std::optional<Spec>& spec, Done& done,
                          void (Scheduler::*again)(Spec, double, Done));
    /// Parks a submit or map until its pool's queue has room for `jobs`: then
    /// `admit` runs; after `block_s`, or at shutdown, `refuse` gets the reason.
    void block(proto::PoolKind pool, std::size_t jobs, double block_s, std::function<void()> admit,
               std::function<void(proto::Error)> refuse);
    void enqueue(JobRecord& r);
    /// The job is `scheduled` until its scheduled_for.
    void schedule(JobRecord& r);
    /// A new or restored job named in `after` jobs: it waits for those that have
    /// not ended, is cancelled if one failed or was cancelled, else it is released.
    void wait_for_dependencies(JobRecord& r);
    /// A job whose dependencies have all succeeded: scheduled or queued.
    void release(JobRecord& r);
    /// Submits what `then` describes, with `field` set to `value` in its args: the
    /// follow-up's id, or why it could not be. Before the end of what it follows
    /// is written: a crash between the two runs that again, and its follow-up
    /// twice, rather than neither.
    proto::Result<std::string> submit_follow_up(const proto::RawJson& then, std::string_view field,
                                                const proto::RawJson& value,
                                                const proto::Shared<std::string>& submitted_by,
                                                const std::string* follows = nullptr);
    /// The last job of a map with `then` ended: if every job succeeded, the
    /// follow-up is submitted with their results, in item order.
    void follow_batch(BatchRecord& batch, const JobRecord& last);
    /// A job of a batch became final.
    void batch_job_finished(const JobRecord& r);
    /// A job ended: those waiting for it go on or are cancelled.
    void tell_dependents(const JobRecord& r);
    /// The first job named in `after` that is not known, for no_such_job (a shared
    /// store answers that itself).
    const std::string* unknown_dependency(const proto::SubmitOptions& options);
    /// A time in the due queue has come: the job queues if it still waits for it.
    void on_due(proto::Timestamp at, std::uint64_t seq);
    /// When a failed attempt's retry is due, where the job backs off.
    std::optional<proto::Timestamp> backoff_until(const JobRecord& r);
    /// Sets what `set` names of a queue's limits, keeping the rest.
    void apply_limits(const proto::QueueSetRequest& set);
    void schedule_dispatch();
    void dispatch();
    /// Takes the run handle of a job handed over or running (0 if none), freeing
    /// its place in its queue's concurrency.
    std::uint64_t release_run(JobRecord& r);
    void hand_over(JobRecord& r, Executor& executor);
    /// Takes a job that is about to be cancelled off its queue, its pool or its worker.
    void withdraw(JobRecord& r);
    void fail_attempt(JobRecord& r, proto::JobError error);
    void finish(JobRecord& r, proto::JobState state);
    /// Tells everyone who waits for it that the job has finished.
    void announce_finished(JobRecord& r);
    void answer_waiters(JobRecord& r);
    /// A shared store: cancels a job this node does not run.
    void cancel_elsewhere(JobRecord& r, JobDone done);
    /// A shared store: retries a job wherever it ran.
    void retry_elsewhere(const std::string& id, JobDone done);
    void stop_running(JobRecord& r, StopReason reason);
    /// A `now` shutdown with a durable store: a running job goes back to queued
    /// without counting its attempt; a queued one stays (taken back from a worker that
    /// holds it).
    void keep_for_restart(JobRecord& r);
    /// A queued job that its paused pool or queue holds back.
    bool held_by_pause(const JobRecord& r) const;
    /// How many queued jobs paused pools and queues hold back now.
    std::size_t held_by_pauses() const;
    /// A running job, stopped or never taken, is queued again (not yet runnable)
    /// without counting its attempt; the store is told.
    void return_to_queue(JobRecord& r);
    void on_timeout(std::uint64_t seq, int attempt);
    /// Cancels a job found in this process.
    proto::Result<const proto::Job*> cancel(JobRecord* r, std::string_view id);
    /// A bounded wait ran out: that waiter is answered with the job as it is.
    void wait_ran_out(std::uint64_t seq, std::uint64_t serial);
    void admit_blocked(proto::PoolKind pool);
    void count_in_batch(const std::string& batch, proto::JobState state);
    /// The count of a batch that a job ending in `state` adds to.
    static std::uint64_t& tally(proto::BatchCounts& counts, proto::JobState state);
    /// Queues a job that `retry` found failed or cancelled.
    void requeue_final(const std::string& id, JobDone done);
    /// Retention is the store's; when to look again is the scheduler's.
    void arm_retention_timer();
    void evict_retained();
    void check_idle();

    asio::io_context& io_;
    const tasks::TaskRegistry& tasks_;
    JobStore& store_;
    Settings settings_;
    std::vector<JobObserver*> observers_;
    IdGenerator ids_;
    std::array<Executor*, proto::pool_count> executors_{};
    std::array<std::size_t, proto::pool_count> handed_{};  // runs handed over, not yet begun
    CallbackSink* callbacks_ = nullptr;
    std::array<std::deque<std::shared_ptr<BlockedSubmit>>, proto::pool_count> blocked_;
    std::unordered_map<std::string, BatchRecord> batches_;
    // Jobs waiting for each unfinished job, by seq: named once for each time it
    // appears in an `after`.
    std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> dependents_;
    DueQueue due_;
    Queues queues_;
    std::array<bool, proto::pool_count> paused_{};
    asio::steady_timer retention_timer_;
    std::optional<SteadyTime> retention_due_;
    base::SoonestTimer throttle_timer_;  // for the next token of a rate-limited queue
    JobCounts counts_;
    std::minstd_rand jitter_;  // spreads the retries of jobs that failed together
    std::uint64_t next_seq_ = 1;
    std::uint64_t next_waiter_ = 1;
    // Lists of waiters of jobs that have finished, kept for their capacity: a
    // submit that waits, the usual kind, costs no allocation for its waiter.
    std::vector<std::vector<Waiter>> spare_waiters_;
    bool dispatch_posted_ = false;
    bool shutting_down_ = false;
    bool stopping_now_ = false;    // a `now` shutdown: nothing more is started
    std::size_t unannounced_ = 0;  // finished jobs waiting for their end to be durable
    std::function<void()> on_idle_;
};

}  // namespace taskpool::daemon::sched
