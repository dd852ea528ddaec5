#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/callback.hpp"
#include "job_record.hpp"
#include "proto/error.hpp"
#include "proto/reply.hpp"
#include "proto/request.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::sched {

/// Whether a job of a named queue may start now (PROTOCOL.md 12): not paused, and
/// within its limits. Asked by the store only of a queue with a job to start.
class QueueGate {
public:
    virtual bool open(std::string_view queue) = 0;

protected:
    ~QueueGate() = default;
};

/// Where jobs are kept: every known job by id, by idempotency key and in arrival
/// order; the runnable jobs of each pool, best first (priority, then arrival); the
/// retention of finished jobs; and, in a store that keeps them past the daemon,
/// every change, durable before it is told to anyone.
///
/// The scheduler decides what happens to a job and when; the store keeps what it
/// decided. The local store (store/local_job_store.hpp: memory, with the SQLite
/// journal when `store.path` is set) is the embedded default; a store shared by
/// several daemons fits behind the same calls, and so do new states, which add
/// their own calls next to make_runnable().
///
/// Records stay where they are until they expire: the scheduler holds pointers to
/// them. On the io thread only.
class JobStore {
public:
    virtual ~JobStore() = default;

    /// What add() calls back with: the new jobs' records, valid for the call.
    using Added = base::Callback<void(proto::Result<std::span<JobRecord* const>>), 80>;
    /// A map with `then` that a shared store found ended, every job succeeded: the
    /// follow-up to submit, once for the cluster.
    struct FollowUp {
        std::string batch;
        proto::RawJson then;
        proto::RawJson results;  // in item order
        proto::Shared<std::string> submitted_by;
    };
    /// How a written end came out.
    struct Ended {
        /// False: the job had already ended elsewhere (a shared store: cancelled
        /// from another daemon, or its lease lapsed), and this end is not its end.
        bool applied = true;
        /// A shared store counts batches: the counts of the batch this end completed.
        std::optional<proto::BatchCounts> batch;
        /// With `batch`, where its map had `then`: the follow-up, or why there is none.
        std::optional<FollowUp> follow_up;
        proto::Boxed<proto::Error> then_error;
    };
    using Durable = base::Callback<void(std::uint64_t seq, const Ended& ended)>;
    /// Makes new jobs known, all or none, moving their records out of `records`:
    /// `added` gets them, in order, once they are durable (at once where nothing is
    /// kept past the daemon), or the error (`unavailable`) and none is known.
    virtual void add(std::span<JobRecord> records, Added added) = 0;
    /// Whether a job with this idempotency key is being added and not yet known.
    virtual bool adding_key(std::string_view key) const = 0;
    /// How many jobs of this pool are being added and not yet known.
    virtual std::size_t adding(proto::PoolKind pool) const = 0;
    /// Takes back the jobs kept from before a restart, in arrival order: those
    /// whose retention is over are dropped, finished ones are retained for what is
    /// left of their time. Returns the records of those kept, in arrival order.
    virtual std::vector<JobRecord*> restore(std::vector<StoredJob> jobs) = 0;

    /// What lookup() calls back with: a record for each id, in their order, nullptr
    /// where no job has it; valid for the call, and for as long as the job has
    /// waiters or runs here.
    using Found = base::Callback<void(proto::Result<std::span<JobRecord* const>>), 80>;
    /// Finds jobs wherever they are kept; `unavailable` where the store cannot be read.
    virtual void lookup(std::span<const std::string> ids, Found found) = 0;
    using Listed = base::Callback<void(proto::Result<std::span<const proto::Job* const>>), 80>;
    /// Jobs newest first, filtered by `query`'s state and id prefix, at most its limit.
    virtual void list(const proto::ListRequest& query, Listed listed) = 0;

    /// A record in this process: a job it runs, or one a waiter waits for.
    virtual JobRecord* find(std::string_view id) = 0;
    virtual JobRecord* find_by_seq(std::uint64_t seq) = 0;
    virtual JobRecord* find_by_key(std::string_view key) = 0;
    /// Visits the jobs in this process newest first until `visit` returns false.
    virtual void newest_first(const std::function<bool(JobRecord&)>& visit) = 0;

    /// The job may run now: it joins its pool's runnable jobs.
    virtual void make_runnable(JobRecord& r) = 0;
    /// The best runnable job of the pool whose queue, if it names one, `gate`
    /// opens, taken off the list; none if none is. A held queue never holds back
    /// the jobs of other queues.
    virtual JobRecord* take_runnable(proto::PoolKind pool, QueueGate& gate) = 0;
    /// The same among the jobs of these tasks only: a pool whose workers serve some
    /// tasks each (remote workers) takes a job of a task that has room, even
    /// behind better jobs of tasks that have none.
    virtual JobRecord* take_runnable(proto::PoolKind pool, std::span<const std::string_view> tasks,
                                     QueueGate& gate) = 0;
    /// A pool could start `room` more runs now, `idle` of them on idle workers, of
    /// these tasks only where given. A shared store claims jobs for it and tells
    /// the daemon when take_runnable() has them; a local one has answered already.
    virtual void want_runnable(proto::PoolKind /*pool*/,
                               std::optional<std::vector<std::string_view>> /*tasks*/,
                               std::size_t /*idle*/, std::size_t /*room*/) {}
    /// A runnable job (a cancelled one) leaves the list.
    virtual void withdraw_runnable(const JobRecord& r) = 0;
    virtual std::size_t runnable(proto::PoolKind pool) const = 0;
    /// How many runnable jobs a named queue has, in every pool.
    virtual std::size_t runnable_in(std::string_view queue) const = 0;
    /// The same in one pool.
    virtual std::size_t runnable_in(std::string_view queue, proto::PoolKind pool) const = 0;

    /// A worker began an attempt (its attempts, worker and start are set).
    virtual void started(const JobRecord& r) = 0;
    /// A running job told how far it has got (its progress is set).
    virtual void progressed(const JobRecord& /*r*/) {}
    /// A failed attempt with a retry left: queued again, one retry fewer, or
    /// `scheduled` for when its back-off ends (its scheduled_for).
    virtual void requeued(const JobRecord& r) = 0;
    /// A running attempt that does not count (a stop, a worker that never took
    /// it): queued again with its attempts as before.
    virtual void returned(const JobRecord& r) = 0;
    /// A job `waiting` for others may run now: queued, or scheduled for its time.
    virtual void released(const JobRecord& r) = 0;
    /// A failed or cancelled job is queued again under its id (`retry`): its
    /// retention ends. Not asked of a shared store, which is asked retry().
    virtual void retried(JobRecord& r) = 0;
    /// The job ended (its state, end and result or error are set). `durable` gets
    /// its seq once the end is durable (at once where nothing is kept).
    virtual void finished(const JobRecord& r, Durable durable) = 0;

    using Cancelled = base::Callback<void(proto::Result<Ended>)>;
    /// A shared store: cancels a job that no record here runs (queued, or running
    /// on another daemon), bringing `r` up to date with its end; no_such_job,
    /// not_cancellable or unavailable. Never called on a store that is not shared.
    virtual void cancel(JobRecord& /*r*/, Cancelled /*cancelled*/) {}
    /// What retry() calls back with: the job as it is now (none: no job has the
    /// id), and whether it was queued again.
    struct Retry {
        JobRecord* record = nullptr;
        bool queued = false;
    };
    using Retried = base::Callback<void(proto::Result<Retry>)>;
    /// A shared store: queues a failed or cancelled job again under its id, wherever
    /// it ran; a job in any other state is left as it is. Never called on a store
    /// that is not shared.
    virtual void retry(const std::string& /*id*/, Retried /*retried*/) {}
    /// Whether other daemons share these jobs (cluster mode): then jobs queue in
    /// the store, not here, and the store counts batches.
    virtual bool shared() const { return false; }

    /// An op set what it names of a queue's limits (PROTOCOL.md 12): kept for the
    /// restart by a store that keeps jobs past the daemon, over the config's.
    virtual void queue_set(const proto::QueueSetRequest& /*set*/) {}
    /// A queue was paused or resumed: kept likewise.
    virtual void queue_paused(std::string_view /*queue*/, bool /*paused*/) {}
    /// A pool was paused or resumed: kept likewise.
    virtual void pool_paused(proto::PoolKind /*pool*/, bool /*paused*/) {}
    /// A schedule was set, or its times changed (PROTOCOL.md 13): kept whole,
    /// likewise.
    virtual void schedule_kept(const proto::ScheduleInfo& /*schedule*/) {}
    /// A schedule fired or skipped the time it had (`from`): its next one. Told in
    /// the turn of the io loop that submits its job, so that both are kept or
    /// neither is. A shared store moves it on only from the time it still has
    /// there, and then only with the job: of the daemons that fire it, one does.
    virtual void schedule_advanced(std::string_view /*name*/, proto::Timestamp /*from*/,
                                   std::optional<proto::Timestamp> /*next_at*/) {}
    virtual void schedule_removed(std::string_view /*name*/) {}

    /// Starts the retention of a finished job, announced now.
    virtual void retain(JobRecord& r) = 0;
    /// A wait began on a job that has not ended: a shared store makes sure its
    /// end, wherever it is written, reaches this daemon.
    virtual void waited_on(JobRecord& /*r*/) {}
    /// When expire() next has work (a time in the past if it has now).
    virtual std::optional<SteadyTime> next_expiry() const = 0;
    /// Drops the finished jobs whose retention is over.
    virtual void expire(SteadyTime now) = 0;

    /// Runs `f` once every change so far is durable (at once where nothing is kept).
    virtual void when_durable(base::Callback<void()> f) = 0;
    /// Whether jobs outlive the daemon: a stop then leaves the queue for the restart.
    virtual bool durable() const = 0;
    /// `unavailable`: why a change could not be kept, and `consequence`.
    virtual proto::Error unavailable(std::string_view consequence) const = 0;
};

}  // namespace taskpool::daemon::sched
