#include "scheduler.hpp"

#include "callback_sink.hpp"
#include "daemon/tasks/registry.hpp"
#include "job_observer.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <asio/post.hpp>

namespace taskpool::daemon::sched {
namespace {

using proto::Error;
using proto::ErrorCode;
using proto::Job;
using proto::JobError;
using proto::JobErrorCode;
using proto::JobState;
using proto::PoolKind;
using proto::Result;

std::string seconds_text(double s) {
    std::ostringstream out;
    out << s << " s";
    return out.str();
}

Error no_such_job(std::string_view id) {
    return Error{ErrorCode::no_such_job, "no job '" + std::string(id) + "'"};
}

Error not_retryable(std::string_view id, JobState state) {
    return Error{ErrorCode::not_retryable, "job " + std::string(id) + " is " +
                                               std::string(to_string(state)) +
                                               ": only a failed or cancelled job can be retried"};
}

std::chrono::steady_clock::duration to_duration(double seconds) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(seconds));
}

proto::Timestamp seconds_from_now(double seconds) {
    return proto::now_timestamp() + std::chrono::milliseconds(std::llround(seconds * 1000));
}

/// When a job asked to start later is due; none where it may start now (a time
/// already past runs at once).
std::optional<proto::Timestamp> due_time(const proto::SubmitOptions& o) {
    auto at = o.delay_s ? seconds_from_now(*o.delay_s) : o.run_at;
    if (at && *at <= proto::now_timestamp()) {
        return std::nullopt;
    }
    return at;
}

}  // namespace

struct Scheduler::BlockedSubmit {
    std::size_t jobs;
    std::function<void()> admit;
    std::function<void(Error)> refuse;
    asio::steady_timer timer;

    /// Hands the submit over once, to whichever of admit and refuse comes first.
    template <class F>
    void end(F&& f) {
        admit = nullptr;
        refuse = nullptr;
        timer.cancel();
        f();
    }
};

Scheduler::Scheduler(asio::io_context& io, const tasks::TaskRegistry& tasks, JobStore& store,
                     Settings settings, std::vector<JobObserver*> observers)
    : io_(io),
      tasks_(tasks),
      store_(store),
      settings_(settings),
      observers_(std::move(observers)),
      due_(io, [this](proto::Timestamp at, std::uint64_t seq) { on_due(at, seq); }),
      retention_timer_(io),
      throttle_timer_(io, [this] { schedule_dispatch(); }),
      jitter_(std::random_device{}()) {}

void Scheduler::set_executor(PoolKind pool, Executor* executor) {
    executors_[static_cast<std::size_t>(pool)] = executor;
}

Executor* Scheduler::executor(PoolKind pool) const {
    return executors_[static_cast<std::size_t>(pool)];
}

Result<void> Scheduler::resolve(const std::string& task_name, const proto::SubmitOptions& options,
                                const tasks::Task*& task, PoolKind& pool) const {
    task = tasks_.find(task_name);
    if (task == nullptr) {
        return Error{ErrorCode::no_such_task, "no task named '" + task_name + "'"};
    }
    pool = options.pool.value_or(task->pool);
    if (!task->runs_on(pool)) {
        return proto::bad_request("field 'pool': task '" + task->name + "' cannot run on the " +
                                  std::string(to_string(pool)) + " pool");
    }
    if (executor(pool) == nullptr) {
        return proto::bad_request("field 'pool': this daemon has no " +
                                  std::string(to_string(pool)) + " pool");
    }
    if (options.callback && callbacks_ == nullptr) {
        return proto::bad_request("field 'callback': this daemon sends no webhooks");
    }
    if (const auto& queue = options.queue ? options.queue : task->queue;
        queue && !queues_.may_name(*queue)) {
        return proto::too_many_queues();
    }
    return {};
}

Result<void> Scheduler::check(const JobSpec& spec, const tasks::Task*& task, PoolKind& pool) const {
    if (auto resolved = resolve(spec.task, spec.options, task, pool); !resolved) {
        return resolved;
    }
    if (auto checked = check_then(spec.options); !checked) {
        return checked;
    }
    return task->check(spec.args);
}

Result<void> Scheduler::check_then(const proto::SubmitOptions& options) const {
    // Each follow-up down a chain: its task and pool now, its args once they hold
    // the result.
    for (auto then = options.then; then;) {
        auto follow_up = proto::follow_up_request(*then, "result", proto::RawJson());
        if (!follow_up) {
            return follow_up.error();
        }
        const tasks::Task* then_task = nullptr;
        PoolKind then_pool{};
        if (auto resolved = resolve(follow_up->task, follow_up->options, then_task, then_pool);
            !resolved) {
            return Error{resolved.error().code, "field 'then': " + resolved.error().message};
        }
        then = std::move(follow_up->options.then);
    }
    return {};
}

Result<void> Scheduler::check(const JobSpec& spec) const {
    const tasks::Task* task = nullptr;
    PoolKind pool{};
    return check(spec, task, pool);
}

Result<void> Scheduler::check_map(const MapSpec& spec, bool due_later, const tasks::Task*& task,
                                  PoolKind& pool) const {
    if (auto resolved = resolve(spec.task, spec.options, task, pool); !resolved) {
        return resolved;
    }
    if (auto checked = check_then(spec.options); !checked) {
        return checked;
    }
    for (std::size_t i = 0; i < spec.items.size(); ++i) {
        if (auto checked = task->check(spec.items[i]); !checked) {
            return Error{checked.error().code,
                         "items[" + std::to_string(i) + "]: " + checked.error().message};
        }
    }
    if (!due_later && spec.items.size() > settings_.queue_max_size) {
        return Error{ErrorCode::queue_full,
                     std::to_string(spec.items.size()) + " items are more than the " +
                         std::string(to_string(pool)) + " pool's queue holds (queue.max_size " +
                         std::to_string(settings_.queue_max_size) + ")"};
    }
    return {};
}

Error Scheduler::queue_full(PoolKind pool) const {
    return Error{ErrorCode::queue_full, "the " + std::string(to_string(pool)) +
                                            " pool's queue is full (queue.max_size " +
                                            std::to_string(settings_.queue_max_size) + ")"};
}

Error Scheduler::shutting_down() const {
    return Error{ErrorCode::shutting_down, "the daemon is shutting down and takes no new jobs"};
}

JobRecord Scheduler::make_record(const tasks::Task& task, PoolKind pool, std::string task_name,
                                 proto::RawJson args, const proto::SubmitOptions& options,
                                 std::optional<std::string> key,
                                 const std::optional<std::string>& batch,
                                 std::optional<proto::Timestamp> due) {
    JobRecord record;
    record.seq = next_seq_++;
    record.task = &task;
    record.job.id = ids_.next("j-");
    record.job.task = std::move(task_name);
    record.job.args = std::move(args);
    record.job.pool = pool;
    record.job.priority = options.priority;
    record.job.batch = batch;
    if (const auto& queue = options.queue ? options.queue : task.queue) {
        record.job.queue = queues_.shared_name(*queue);
    }
    record.job.submitted_at = proto::now_timestamp();
    record.job.scheduled_for = due;
    record.job.state = due ? JobState::scheduled : JobState::queued;
    record.job.after = options.after;
    record.then = options.then;
    double timeout =
        options.timeout_s.value_or(task.timeout_s.value_or(settings_.default_timeout_s));
    if (timeout > 0) {
        record.timeout_s = timeout;
    }
    record.retries_left = options.retries;
    record.retry_backoff_s = options.retry_backoff_s;
    record.key = std::move(key);
    record.callback = options.callback;
    return record;
}

bool Scheduler::admitted(const Result<std::span<JobRecord* const>>& added) {
    if (!added) {
        check_idle();  // a shutdown may have waited for these
        return false;
    }
    auto records = *added;
    counts_.submitted += records.size();
    if (store_.shared()) {
        schedule_dispatch();  // queued in the store, for whichever node takes them
        return true;
    }
    for (JobRecord* r : records) {
        if (r->job.batch) {
            auto& batch = batches_[*r->job.batch];
            ++batch.pending;
            ++batch.unfinished;
            if (r->batch_then) {
                batch.then = *r->batch_then;
                batch.size = r->batch_size;
                batch.jobs.push_back(r->seq);
            }
        }
    }
    for (JobRecord* r : records) {
        if (stopping_now_) {
            if (!store_.durable()) {  // accepted before a `now` shutdown began
                r->job.error = JobError{JobErrorCode::shutdown, "cancelled by shutdown"};
                finish(*r, JobState::cancelled);
            }  // else kept in the store, for the restart
        } else if (!r->job.after.empty()) {
            wait_for_dependencies(*r);
        } else {
            release(*r);
        }
    }
    return true;
}

Error Scheduler::unavailable() const {
    return store_.unavailable("nothing was accepted");
}

template <class Spec, class Done>
bool Scheduler::room_for(PoolKind pool, std::size_t jobs, double block_s, Spec& spec, Done& done,
                         void (Scheduler::*again)(Spec, double, Done)) {
    if (has_room(pool, jobs)) {
        return true;
    }
    park(pool, jobs, block_s, queue_full(pool), std::move(spec), std::move(done), again);
    return false;
}

template <class Spec, class Done>
void Scheduler::park(PoolKind pool, std::size_t jobs, double block_s, Error full, Spec spec,
                     Done done, void (Scheduler::*again)(Spec, double, Done)) {
    if (block_s <= 0) {
        done(std::move(full));
        return;
    }
    // Either of two callbacks answers it: they share the request.
    auto shared = std::make_shared<std::pair<Spec, Done>>(std::move(spec), std::move(done));
    auto until = std::chrono::steady_clock::now() + to_duration(block_s);
    block(
        pool, jobs, block_s,
        [this, shared, again, until] {
            // A shared store may find the queue full again: it waits what is left.
            double left =
                std::chrono::duration<double>(until - std::chrono::steady_clock::now()).count();
            (this->*again)(std::move(shared->first), store_.shared() ? std::max(left, 0.0) : 0,
                           std::move(shared->second));
        },
        [shared](Error e) { shared->second(std::move(e)); });
}

template <class Spec, class Done>
bool Scheduler::parked_when_full(const Error& error, PoolKind pool, std::size_t jobs,
                                 double block_s, std::optional<Spec>& spec, Done& done,
                                 void (Scheduler::*again)(Spec, double, Done)) {
    if (error.code != ErrorCode::queue_full || !spec) {
        return false;
    }
    park(pool, jobs, block_s, error, std::move(*spec), std::move(done), again);
    return true;
}

void Scheduler::submit(JobSpec spec, double block_s, SubmitDone done) {
    if (shutting_down_) {
        done(shutting_down());
        return;
    }
    if (spec.key) {
        if (auto* existing = store_.find_by_key(*spec.key)) {
            done(&existing->job);
            return;
        }
        if (store_.adding_key(*spec.key)) {
            // The job that holds the key is being made durable: answer with it then.
            store_.when_durable([this, key = *spec.key, done = std::move(done)] {
                auto* holder = store_.find_by_key(key);
                holder != nullptr ? done(&holder->job) : done(unavailable());
            });
            return;
        }
    }
    const tasks::Task* task = nullptr;
    PoolKind pool{};
    if (auto checked = check(spec, task, pool); !checked) {
        done(checked.error());
        return;
    }
    if (const auto* unknown = unknown_dependency(spec.options)) {
        done(Error{ErrorCode::no_such_job, "field 'after': no job '" + *unknown + "'"});
        return;
    }
    // A job due later, or after other jobs, takes no room in the queue until then.
    auto due = due_time(spec.options);
    if (!due && spec.options.after.empty() &&
        !room_for(pool, 1, block_s, spec, done, &Scheduler::submit)) {
        return;
    }
    // A shared store is the judge of the queue's room: a submit it finds full waits
    // with a copy of itself, and is made again once there may be room.
    auto retry = store_.shared() && block_s > 0 ? std::optional<JobSpec>(spec) : std::nullopt;
    JobRecord record = make_record(*task, pool, std::move(spec.task), std::move(spec.args),
                                   spec.options, std::move(spec.key), std::nullopt, due);
    record.job.submitted_by = std::move(spec.submitted_by);
    record.job.schedule = std::move(spec.schedule);
    store_.add({&record, 1}, [this, pool, block_s, retry = std::move(retry),
                              done = std::move(done)](auto jobs) mutable {
        if (!jobs &&
            parked_when_full(jobs.error(), pool, 1, block_s, retry, done, &Scheduler::submit)) {
            return;
        }
        admitted(jobs) ? done(&jobs->front()->job) : done(jobs.error());
    });
}

void Scheduler::submit_map(MapSpec spec, double block_s, MapDone done) {
    if (shutting_down_) {
        done(shutting_down());
        return;
    }
    const tasks::Task* task = nullptr;
    PoolKind pool{};
    auto due = due_time(spec.options);
    bool later = due.has_value() || !spec.options.after.empty();
    if (auto checked = check_map(spec, later, task, pool); !checked) {
        done(checked.error());
        return;
    }
    if (const auto* unknown = unknown_dependency(spec.options)) {
        done(Error{ErrorCode::no_such_job, "field 'after': no job '" + *unknown + "'"});
        return;
    }
    auto size = spec.items.size();
    if (!later && !room_for(pool, size, block_s, spec, done, &Scheduler::submit_map)) {
        return;
    }
    auto retry = store_.shared() && block_s > 0 ? std::optional<MapSpec>(spec) : std::nullopt;
    std::string batch = ids_.next("b-");
    std::vector<JobRecord> records;
    records.reserve(size);
    // `then` follows the whole batch, not each job.
    auto then = std::exchange(spec.options.then, std::nullopt);
    for (auto& item : spec.items) {
        records.push_back(make_record(*task, pool, spec.task, std::move(item), spec.options,
                                      std::nullopt, batch, due));
        records.back().job.submitted_by = spec.submitted_by;
        if (then) {
            records.back().batch_then = *then;
            records.back().batch_size = static_cast<std::uint32_t>(size);
        }
    }
    store_.add(records, [this, pool, size, block_s, retry = std::move(retry),
                         batch = std::move(batch), done = std::move(done)](auto jobs) mutable {
        if (!jobs && parked_when_full(jobs.error(), pool, size, block_s, retry, done,
                                      &Scheduler::submit_map)) {
            return;
        }
        if (!admitted(jobs)) {
            done(jobs.error());
            return;
        }
        Batch accepted{std::move(batch), {}};
        accepted.jobs.reserve(jobs->size());
        for (JobRecord* r : *jobs) {
            accepted.jobs.push_back(&r->job);
        }
        done(std::move(accepted));
    });
}

void Scheduler::block(PoolKind pool, std::size_t jobs, double block_s, std::function<void()> admit,
                      std::function<void(Error)> refuse) {
    auto blocked = std::make_shared<BlockedSubmit>(
        BlockedSubmit{jobs, std::move(admit), std::move(refuse), asio::steady_timer(io_)});
    blocked->timer.expires_after(to_duration(block_s));
    blocked->timer.async_wait([this, blocked, pool, block_s](std::error_code ec) {
        if (ec || !blocked->refuse) {
            return;
        }
        auto& waiting = blocked_[static_cast<std::size_t>(pool)];
        waiting.erase(std::find(waiting.begin(), waiting.end(), blocked));
        blocked->end([refuse = blocked->refuse, pool, block_s] {
            refuse(Error{ErrorCode::queue_full, "the " + std::string(to_string(pool)) +
                                                    " pool's queue stayed full for " +
                                                    seconds_text(block_s)});
        });
    });
    blocked_[static_cast<std::size_t>(pool)].push_back(std::move(blocked));
}

void Scheduler::admit_blocked(PoolKind pool) {
    // In arrival order: a large map at the front is not overtaken by small submits.
    auto& waiting = blocked_[static_cast<std::size_t>(pool)];
    while (!waiting.empty() && has_room(pool, waiting.front()->jobs)) {
        auto blocked = std::move(waiting.front());
        waiting.pop_front();
        blocked->end([admit = blocked->admit] { admit(); });
    }
}

const Job* Scheduler::find(std::string_view id) {
    auto* r = store_.find(id);
    return r == nullptr ? nullptr : &r->job;
}

void Scheduler::get(const std::string& id, double seconds, JobDone done) {
    store_.lookup({&id, 1}, [this, id, seconds, done = std::move(done)](auto found) mutable {
        if (!found) {
            done(found.error());
        } else if (JobRecord* r = found->front(); r == nullptr) {
            done(no_such_job(id));
        } else {
            wait(r->job.id, seconds, [done = std::move(done)](const Job& job) { done(&job); });
        }
    });
}

void Scheduler::wait(std::string_view id, double seconds, base::Callback<void(const Job&)> done) {
    JobRecord* r = store_.find(id);
    if (proto::is_final(r->job.state) && unannounced_ > 0) {
        // It may have ended a moment ago, its end not yet committed: answered after
        // the commit (and after its own announcement, which waits for the same one).
        when_durable([job = r->job, done = std::move(done)] { done(job); });
        return;
    }
    if (proto::is_final(r->job.state) || seconds <= 0) {
        done(r->job);
        return;
    }
    if (r->waiters.capacity() == 0 && !spare_waiters_.empty()) {
        r->waiters = std::move(spare_waiters_.back());
        spare_waiters_.pop_back();
    }
    auto& waiter = r->waiters.emplace_back(Waiter{std::move(done), nullptr, next_waiter_++});
    store_.waited_on(*r);
    if (std::isfinite(seconds)) {
        waiter.timer = std::make_unique<asio::steady_timer>(io_, to_duration(seconds));
        waiter.timer->async_wait([this, serial = waiter.serial, seq = r->seq](std::error_code ec) {
            if (!ec) {
                wait_ran_out(seq, serial);
            }
        });
    }
}

void Scheduler::wait_ran_out(std::uint64_t seq, std::uint64_t serial) {
    JobRecord* r = store_.find_by_seq(seq);
    if (r == nullptr) {
        return;
    }
    auto& list = r->waiters;
    auto it = std::find_if(list.begin(), list.end(),
                           [serial](const Waiter& w) { return w.serial == serial; });
    if (it == list.end()) {
        return;  // the job finished as the time ran out, and has answered it
    }
    auto done = std::move(it->done);
    list.erase(it);
    done(r->job);
}

void Scheduler::cancel(const std::string& id, JobDone done) {
    store_.lookup({&id, 1}, [this, id, done = std::move(done)](auto found) mutable {
        JobRecord* r = found ? found->front() : nullptr;
        if (r != nullptr && store_.shared() && r->run_handle == 0 &&
            !proto::is_final(r->job.state)) {
            cancel_elsewhere(*r, std::move(done));
            return;
        }
        auto result = found ? cancel(r, id) : Result<const Job*>(found.error());
        if (done) {
            done(result);
        }
    });
}

void Scheduler::retry(const std::string& id, JobDone done) {
    if (store_.shared()) {
        retry_elsewhere(id, std::move(done));
        return;
    }
    store_.lookup({&id, 1}, [this, id, done = std::move(done)](auto found) mutable {
        if (!found) {
            done(found.error());
        } else if (unannounced_ > 0) {
            // A job that has just ended is announced once its end is durable: it is
            // queued again after that, never between its end and its announcement.
            when_durable([this, id, done = std::move(done)]() mutable {
                requeue_final(id, std::move(done));
            });
        } else {
            requeue_final(id, std::move(done));
        }
    });
}

void Scheduler::requeue_final(const std::string& id, JobDone done) {
    JobRecord* r = store_.find(id);
    if (r == nullptr) {
        done(no_such_job(id));
        return;
    }
    if (r->job.state != JobState::failed && r->job.state != JobState::cancelled) {
        done(not_retryable(id, r->job.state));
        return;
    }
    if (shutting_down_) {
        done(shutting_down());
        return;
    }
    if (r->job.batch) {  // its batch, if still going, waits for it again
        if (auto it = batches_.find(*r->job.batch); it != batches_.end()) {
            --tally(it->second.end.counts, r->job.state);
            ++it->second.pending;
            ++it->second.unfinished;
        }
    }
    auto& job = r->job;
    job.result.reset();
    job.error.reset();
    job.progress.reset();
    job.worker.reset();
    job.scheduled_for.reset();
    job.started_at.reset();
    job.finished_at.reset();
    job.then_job.reset();
    job.then_error.reset();
    job.state = JobState::queued;
    store_.retried(*r);
    enqueue(*r);
    done(&job);
}

void Scheduler::retry_elsewhere(const std::string& id, JobDone done) {
    if (shutting_down_) {
        done(shutting_down());
        return;
    }
    store_.retry(id, [this, id, done = std::move(done)](Result<JobStore::Retry> retried) {
        if (!retried) {
            done(retried.error());
        } else if (retried->record == nullptr) {
            done(no_such_job(id));
        } else if (!retried->queued) {
            done(not_retryable(id, retried->record->job.state));
        } else {
            schedule_dispatch();  // this node may take it
            done(&retried->record->job);
        }
    });
}

void Scheduler::cancel_elsewhere(JobRecord& r, JobDone done) {
    store_.cancel(r, [this, &r, done = std::move(done)](Result<JobStore::Ended> ended) {
        if (ended) {
            ++counts_.cancelled;
            announce_end(r, *ended);  // this node made it final: it tells everyone
            schedule_dispatch();      // and its queue has room for one more
        }
        if (done) {
            ended ? done(&r.job) : done(ended.error());
        }
    });
}

Result<const Job*> Scheduler::cancel(JobRecord* r, std::string_view id) {
    if (r == nullptr) {
        return no_such_job(id);
    }
    if (proto::is_final(r->job.state)) {
        return Error{ErrorCode::not_cancellable,
                     "job " + r->job.id + " has already " + std::string(to_string(r->job.state))};
    }
    if (r->job.state == JobState::running && r->job.pool == PoolKind::thread &&
        !r->task->cancellable) {
        return Error{ErrorCode::not_cancellable,
                     "task '" + r->task->name + "' cannot be stopped once it runs"};
    }
    withdraw(*r);
    r->job.error = JobError{JobErrorCode::cancelled, "cancelled by request"};
    finish(*r, JobState::cancelled);
    return &r->job;
}

void Scheduler::begin_shutdown(bool now, std::function<void()> on_idle) {
    if (!shutting_down_) {
        shutting_down_ = true;
        for (auto& waiting : blocked_) {
            for (auto& blocked : std::exchange(waiting, {})) {
                blocked->end([this, refuse = blocked->refuse] { refuse(shutting_down()); });
            }
        }
    }
    on_idle_ = std::move(on_idle);
    stopping_now_ = stopping_now_ || now;
    // `now` stops every job; a drain runs the queue but not what is due later,
    // waits for other jobs or is held by a pause, which, where nothing outlives the
    // daemon, ends here.
    std::vector<JobRecord*> stopped;
    store_.newest_first([&](JobRecord& r) {
        bool later = r.job.state == JobState::scheduled || r.job.state == JobState::waiting;
        bool held = r.job.state == JobState::queued && held_by_pause(r);
        if (!proto::is_final(r.job.state) && (now || (!store_.durable() && (later || held)))) {
            stopped.push_back(&r);
        }
        return true;
    });
    for (JobRecord* r : stopped) {
        if (store_.durable()) {
            keep_for_restart(*r);
        } else {
            withdraw(*r);
            r->job.error = JobError{JobErrorCode::shutdown, "cancelled by shutdown"};
            finish(*r, JobState::cancelled);
        }
    }
    check_idle();
}

std::size_t Scheduler::held_by_pauses() const {
    auto names = queues_.names();
    std::erase_if(names, [this](const std::string& name) { return !queues_.find(name)->paused; });
    std::size_t held = 0;
    for (std::size_t p = 0; p < proto::pool_count; ++p) {
        auto pool = static_cast<PoolKind>(p);
        if (paused(pool)) {
            held += store_.runnable(pool);
            continue;
        }
        for (const auto& name : names) {
            held += store_.runnable_in(name, pool);
        }
    }
    return held;
}

bool Scheduler::held_by_pause(const JobRecord& r) const {
    if (paused(r.job.pool)) {
        return true;
    }
    const auto* queue = r.job.queue ? queues_.find(*r.job.queue) : nullptr;
    return queue != nullptr && queue->paused;
}

void Scheduler::return_to_queue(JobRecord& r) {
    release_run(r);
    r.timeout_timer.reset();
    --counts_.running;
    r.job.state = JobState::queued;
    --r.job.attempts;  // not the job's failure: the attempt does not count
    r.job.worker.reset();
    r.job.started_at.reset();
    r.job.progress.reset();  // the next attempt tells its own
    if (!store_.shared()) {
        ++counts_.queued;
    }
    store_.returned(r);
}

void Scheduler::keep_for_restart(JobRecord& r) {
    if (r.job.state == JobState::running) {
        executor(r.job.pool)->stop(r.run_handle, StopReason::cancelled);
        return_to_queue(r);
    } else if (r.run_handle != 0) {  // handed to a worker that has not begun it
        executor(r.job.pool)->stop(release_run(r), StopReason::cancelled);
        --handed_[static_cast<std::size_t>(r.job.pool)];
        if (store_.shared()) {
            --counts_.queued;
            store_.make_runnable(r);  // for another node
        }
    }
}

void Scheduler::on_outcome(RunOutcome outcome) {
    JobRecord* r = store_.find_by_seq(outcome.seq);
    // An attempt that was cancelled or timed out has already been ended here; its
    // late outcome only tells that the worker is free again.
    if (r != nullptr && r->job.state == JobState::running && r->job.attempts == outcome.attempt) {
        release_run(*r);
        r->timeout_timer.reset();
        --counts_.running;
        if (auto* value = std::get_if<proto::RawJson>(&outcome.outcome)) {
            r->job.result = std::move(*value);
            finish(*r, JobState::succeeded);
        } else {
            fail_attempt(*r, std::get<JobError>(std::move(outcome.outcome)));
        }
    }
    schedule_dispatch();
}

void Scheduler::schedule(JobRecord& r) {
    r.job.state = JobState::scheduled;
    if (store_.shared()) {
        return;  // due in the store, for whichever node finds it due first
    }
    ++counts_.scheduled;
    due_.add(*r.job.scheduled_for, r.seq);
}

const std::string* Scheduler::unknown_dependency(const proto::SubmitOptions& options) {
    if (store_.shared()) {
        return nullptr;  // the store answers no_such_job as it takes the job
    }
    for (const auto& id : options.after) {
        if (store_.find(id) == nullptr) {
            return &id;
        }
    }
    return nullptr;
}

void Scheduler::wait_for_dependencies(JobRecord& r) {
    std::vector<JobRecord*> pending;
    for (const auto& id : r.job.after) {
        JobRecord* dep = store_.find(id);
        if (dep == nullptr || dep->job.state == JobState::failed ||
            dep->job.state == JobState::cancelled) {
            // Gone: it expired (its end is past its retention) while this waited
            // through a restart, which only a failure or cancel may leave unanswered.
            r.job.error = JobError{JobErrorCode::dependency_failed,
                                   "job " + id + " " +
                                       (dep == nullptr ? "is no longer known"
                                                       : std::string(to_string(dep->job.state)))};
            finish(r, JobState::cancelled);
            return;
        }
        if (dep->job.state != JobState::succeeded) {
            pending.push_back(dep);
        }
    }
    if (pending.empty()) {
        release(r);
        return;
    }
    r.job.state = JobState::waiting;
    r.unmet = static_cast<int>(pending.size());
    ++counts_.waiting;
    for (JobRecord* dep : pending) {
        dependents_[dep->seq].push_back(r.seq);
    }
}

void Scheduler::release(JobRecord& r) {
    if (!r.job.after.empty()) {  // the store knows it as waiting until told
        store_.released(r);
    }
    if (r.job.scheduled_for && *r.job.scheduled_for > proto::now_timestamp()) {
        schedule(r);
    } else {
        enqueue(r);
    }
}

Result<std::string> Scheduler::submit_follow_up(const proto::RawJson& then, std::string_view field,
                                                const proto::RawJson& value,
                                                const proto::Shared<std::string>& submitted_by,
                                                const std::string* follows) {
    auto request = proto::follow_up_request(then, field, value);
    if (!request) {
        return request.error();
    }
    JobSpec spec{std::move(request->task),
                 std::move(request->args),
                 std::nullopt,
                 std::move(request->options),
                 submitted_by,
                 {}};
    const tasks::Task* task = nullptr;
    PoolKind pool{};
    auto due = due_time(spec.options);
    if (shutting_down_) {
        return shutting_down();
    }
    if (auto checked = check(spec, task, pool); !checked) {
        return checked.error();
    }
    if (const auto* unknown = unknown_dependency(spec.options)) {
        return Error{ErrorCode::no_such_job, "field 'then.after': no job '" + *unknown + "'"};
    }
    if (!due && spec.options.after.empty() && !has_room(pool, 1)) {
        return queue_full(pool);
    }
    JobRecord record = make_record(*task, pool, std::move(spec.task), std::move(spec.args),
                                   spec.options, std::nullopt, std::nullopt, due);
    record.job.submitted_by = std::move(spec.submitted_by);
    if (follows != nullptr) {
        record.follows = *follows;
    }
    auto id = record.job.id;
    store_.add({&record, 1}, [this](auto jobs) { admitted(jobs); });
    return id;
}

Result<std::string> Scheduler::follow_up(const JobStore::FollowUp& follow) {
    return submit_follow_up(follow.then, "results", follow.results, follow.submitted_by,
                            &follow.batch);
}

void Scheduler::follow_batch(BatchRecord& batch, const JobRecord& last) {
    if (batch.jobs.size() < batch.size) {
        batch.end.then_error =
            Error{ErrorCode::dependency_failed,
                  std::to_string(batch.size - batch.jobs.size()) + " of the batch's " +
                      std::to_string(batch.size) + " jobs are no longer kept, nor their results"};
        return;
    }
    proto::JsonWriter results;
    results.begin_array();
    for (auto seq : batch.jobs) {
        const JobRecord* r = seq == last.seq ? &last : store_.find_by_seq(seq);
        if (r == nullptr || r->job.state != JobState::succeeded) {
            batch.end.then_error = Error{
                ErrorCode::dependency_failed,
                r == nullptr
                    ? "a job of the batch is no longer kept, nor its result"
                    : "job " + r->job.id + " of the batch " + std::string(to_string(r->job.state))};
            return;
        }
        results.value(*r->job.result);
    }
    results.end_array();
    auto follow_up = submit_follow_up(*batch.then, "results",
                                      *proto::RawJson::from_text(std::move(results).take()),
                                      last.job.submitted_by);
    if (follow_up) {
        batch.end.then_job = std::move(*follow_up);
    } else {
        batch.end.then_error = follow_up.error();
    }
}

void Scheduler::batch_job_finished(const JobRecord& r) {
    auto it = batches_.find(*r.job.batch);
    if (it != batches_.end() && --it->second.unfinished == 0 && it->second.then) {
        follow_batch(it->second, r);
    }
}

void Scheduler::tell_dependents(const JobRecord& r) {
    auto it = dependents_.find(r.seq);
    if (it == dependents_.end()) {
        return;
    }
    auto waiting = std::move(it->second);
    dependents_.erase(it);
    for (auto seq : waiting) {
        JobRecord* d = store_.find_by_seq(seq);
        if (d == nullptr || d->job.state != JobState::waiting) {
            continue;  // cancelled meanwhile
        }
        if (r.job.state == JobState::succeeded) {
            if (--d->unmet == 0) {
                --counts_.waiting;
                release(*d);
            }
            continue;
        }
        // And so on down a chain, as each of these ends in turn.
        --counts_.waiting;
        d->job.error = JobError{JobErrorCode::dependency_failed,
                                "job " + r.job.id + " " + std::string(to_string(r.job.state))};
        finish(*d, JobState::cancelled);
    }
}

void Scheduler::on_due(proto::Timestamp at, std::uint64_t seq) {
    JobRecord* r = store_.find_by_seq(seq);
    // A stale entry (cancelled, retried, due at another time) is let go. So is one
    // that comes due during a shutdown: what is kept runs after the restart.
    if (r == nullptr || r->job.state != JobState::scheduled || r->job.scheduled_for != at ||
        shutting_down_) {
        return;
    }
    --counts_.scheduled;
    enqueue(*r);
}

std::optional<proto::Timestamp> Scheduler::backoff_until(const JobRecord& r) {
    double base = r.retry_backoff_s.value_or(settings_.backoff_s);
    if (base <= 0) {
        return std::nullopt;
    }
    // Attempt n+1 starts base * 2^(n-1) after attempt n, +-20%, at most max_backoff_s.
    int failed = std::clamp(r.job.attempts, 1, 64);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    double delay =
        std::min(base * std::exp2(failed - 1) * jitter(jitter_), settings_.max_backoff_s);
    return seconds_from_now(delay);
}

void Scheduler::enqueue(JobRecord& r) {
    r.job.state = JobState::queued;
    if (store_.shared()) {  // queued in the store, for whichever node takes it
        schedule_dispatch();
        return;
    }
    store_.make_runnable(r);
    ++counts_.queued;
    schedule_dispatch();
}

// Dispatch runs from a posted handler rather than inside submit: a burst of pipelined
// submits is handed to the pools at once, and the submit reply (and any `notify`
// registration) always precedes the job's job.started event.
void Scheduler::schedule_dispatch() {
    if (!dispatch_posted_) {
        dispatch_posted_ = true;
        asio::post(io_, [this] { dispatch(); });
    }
}

void Scheduler::dispatch() {
    dispatch_posted_ = false;
    if (stopping_now_) {
        return;
    }
    queues_.begin_round(std::chrono::steady_clock::now());
    for (PoolKind pool : {PoolKind::thread, PoolKind::process, PoolKind::remote}) {
        if (store_.shared()) {
            admit_blocked(pool);  // a job may have begun anywhere: try the queue again
        }
        Executor* ex = executor(pool);
        if (ex == nullptr || paused(pool)) {
            continue;
        }
        while (ex->can_take()) {
            auto tasks = ex->tasks_with_room();
            JobRecord* next = tasks ? store_.take_runnable(pool, *tasks, queues_)
                                    : store_.take_runnable(pool, queues_);
            if (next == nullptr) {
                if (store_.shared() && !shutting_down_) {  // a drain leaves the queue to others
                    auto& handed = handed_[static_cast<std::size_t>(pool)];
                    std::size_t taken = ex->busy() + handed;
                    store_.want_runnable(pool, std::move(tasks),
                                         ex->size() > taken ? ex->size() - taken : 0, ex->room());
                }
                break;
            }
            if (store_.shared()) {
                ++counts_.queued;  // counted here while this node holds it
            }
            hand_over(*next, *ex);
        }
    }
    if (auto token = queues_.next_token()) {
        throttle_timer_.at(*token);
    }
}

void Scheduler::restore_queue(const proto::QueueSetRequest& set, bool paused) {
    apply_limits(set);
    queues_.named(set.queue).paused = paused;
}

void Scheduler::apply_limits(const proto::QueueSetRequest& set) {
    const auto* q = queues_.find(set.queue);
    auto limits = q != nullptr ? q->limits : proto::QueueLimits{};
    if (set.max_concurrency) {
        limits.max_concurrency = *set.max_concurrency;
    }
    if (set.rate_limit) {
        limits.rate_limit = *set.rate_limit;
    }
    queues_.set_limits(set.queue, limits);
}

Result<proto::QueueInfo> Scheduler::set_queue(const proto::QueueSetRequest& set) {
    if (!queues_.may_name(set.queue)) {
        return proto::too_many_queues();
    }
    apply_limits(set);
    store_.queue_set(set);
    schedule_dispatch();
    return queues_.info(set.queue, store_.runnable_in(set.queue));
}

std::vector<proto::QueueInfo> Scheduler::list_queues() {
    std::vector<proto::QueueInfo> out;
    for (const auto& name : queues_.names()) {
        out.push_back(queues_.info(name, store_.runnable_in(name)));
    }
    return out;
}

Result<proto::QueueInfo> Scheduler::pause_queue(std::string_view queue, bool paused) {
    if (!queues_.may_name(queue)) {
        return proto::too_many_queues();
    }
    queues_.named(queue).paused = paused;
    store_.queue_paused(queue, paused);
    schedule_dispatch();
    check_idle();  // a drain waits for no job a pause holds
    return queues_.info(queue, store_.runnable_in(queue));
}

void Scheduler::pause_pool(PoolKind pool, bool paused) {
    paused_[static_cast<std::size_t>(pool)] = paused;
    store_.pool_paused(pool, paused);
    schedule_dispatch();
    check_idle();
}

std::uint64_t Scheduler::release_run(JobRecord& r) {
    if (r.holds_slot) {
        queues_.ended(*r.job.queue);
        r.holds_slot = false;
        schedule_dispatch();  // the queue may start another
    }
    return std::exchange(r.run_handle, 0);
}

void Scheduler::hand_over(JobRecord& r, Executor& executor) {
    // Counted first: a pool may report the start before start() returns.
    ++handed_[static_cast<std::size_t>(r.job.pool)];
    int attempt = r.job.attempts + 1;
    auto handle = executor.start(
        Run{r.seq, r.job.id, attempt, r.job.priority, r.task, r.job.args, &r.job, r.timeout_s});
    // A pool that begins the run inside start() reports it at once, and what that
    // tells the observers may already have ended it (a bound job whose connection
    // the event closed): then the pool is told to stop it.
    bool ended_meanwhile = r.job.state == JobState::running ? r.job.attempts != attempt
                                                            : r.job.state != JobState::queued;
    if (ended_meanwhile) {
        executor.stop(handle, StopReason::cancelled);
        return;
    }
    r.run_handle = handle;
    if (r.job.queue) {
        queues_.started(*r.job.queue);
        r.holds_slot = true;
    }
}

RunEvents Scheduler::run_events() {
    return {[this](RunStarted s) { on_started(std::move(s)); },
            [this](RunOutcome o) { on_outcome(std::move(o)); },
            [this](std::uint64_t seq, int attempt) { on_returned(seq, attempt); },
            [this] { capacity_changed(); },
            [this](std::uint64_t seq, int attempt, proto::RawJson progress) {
                on_progress(seq, attempt, std::move(progress));
            }};
}

void Scheduler::on_progress(std::uint64_t seq, int attempt, proto::RawJson progress) {
    JobRecord* r = store_.find_by_seq(seq);
    if (r == nullptr || r->job.state != JobState::running || r->job.attempts != attempt) {
        return;  // an attempt already ended here
    }
    r->job.progress = std::move(progress);
    store_.progressed(*r);
    for (auto* observer : observers_) {
        observer->job_progress(r->job);
    }
}

void Scheduler::on_returned(std::uint64_t seq, int attempt) {
    JobRecord* r = store_.find_by_seq(seq);
    if (r == nullptr || r->run_handle == 0) {
        return;
    }
    if (r->job.state == JobState::running && r->job.attempts == attempt) {
        return_to_queue(*r);  // reported begun, never taken
    } else if (r->job.state == JobState::queued && r->job.attempts + 1 == attempt) {
        release_run(*r);
        --handed_[static_cast<std::size_t>(r->job.pool)];
        if (store_.shared()) {
            --counts_.queued;
        }
    } else {
        return;
    }
    if (!stopping_now_) {
        store_.make_runnable(*r);  // in its place by arrival
        schedule_dispatch();
    }
}

void Scheduler::on_started(RunStarted started) {
    JobRecord* r = store_.find_by_seq(started.seq);
    // A run withdrawn by a cancel may still begin; that attempt has been ended here.
    if (r == nullptr || r->job.state != JobState::queued ||
        r->job.attempts + 1 != started.attempt) {
        return;
    }
    --handed_[static_cast<std::size_t>(r->job.pool)];
    --counts_.queued;
    ++counts_.running;
    r->job.state = JobState::running;
    r->job.attempts = started.attempt;
    r->job.started_at = started.at;
    r->job.worker = std::move(started.worker);
    store_.started(*r);
    if (r->timeout_s) {
        r->timeout_timer = std::make_unique<asio::steady_timer>(io_, to_duration(*r->timeout_s));
        r->timeout_timer->async_wait(
            [this, seq = r->seq, attempt = r->job.attempts](std::error_code ec) {
                if (!ec) {
                    on_timeout(seq, attempt);
                }
            });
    }
    for (auto* observer : observers_) {
        observer->job_started(r->job);
    }
    admit_blocked(r->job.pool);
    schedule_dispatch();  // the pool has room for another run
}

void Scheduler::withdraw(JobRecord& r) {
    if (r.job.state == JobState::scheduled) {  // its due entry goes stale
        --counts_.scheduled;
        return;
    }
    if (r.job.state == JobState::waiting) {  // so does its place among dependents
        --counts_.waiting;
        return;
    }
    if (r.job.state == JobState::running) {
        stop_running(r, StopReason::cancelled);
        return;
    }
    if (r.run_handle != 0) {
        // Whether or not it had begun, the attempt ends here: a late start or
        // outcome finds the job final and is ignored.
        executor(r.job.pool)->stop(release_run(r), StopReason::cancelled);
        --handed_[static_cast<std::size_t>(r.job.pool)];
    } else {
        store_.withdraw_runnable(r);
    }
    --counts_.queued;
    admit_blocked(r.job.pool);
}

void Scheduler::on_timeout(std::uint64_t seq, int attempt) {
    JobRecord* r = store_.find_by_seq(seq);
    if (r == nullptr || r->job.state != JobState::running || r->job.attempts != attempt) {
        return;
    }
    double limit = *r->timeout_s;
    stop_running(*r, StopReason::timeout);
    fail_attempt(*r, JobError{JobErrorCode::timeout, "ran longer than " + seconds_text(limit)});
}

void Scheduler::stop_running(JobRecord& r, StopReason reason) {
    executor(r.job.pool)->stop(release_run(r), reason);
    r.timeout_timer.reset();
    --counts_.running;
}

void Scheduler::fail_attempt(JobRecord& r, JobError error) {
    if (r.retries_left > 0) {
        --r.retries_left;
        r.job.worker.reset();
        r.job.started_at.reset();
        r.job.progress.reset();
        if (auto until = backoff_until(r)) {
            r.job.state = JobState::scheduled;
            r.job.scheduled_for = until;
            store_.requeued(r);
            schedule(r);
        } else {
            store_.requeued(r);
            enqueue(r);
        }
        return;
    }
    r.job.error = std::move(error);
    finish(r, JobState::failed);
}

void Scheduler::finish(JobRecord& r, JobState state) {
    r.job.state = state;
    if (state == JobState::succeeded && r.then) {
        auto follow_up = submit_follow_up(*r.then, "result", *r.job.result, r.job.submitted_by);
        if (follow_up) {
            r.job.then_job = std::move(*follow_up);
        } else {
            r.job.then_error = follow_up.error();
        }
    }
    if (r.job.batch && !store_.shared()) {
        batch_job_finished(r);
    }
    r.job.finished_at = proto::now_timestamp();
    r.timeout_timer.reset();
    switch (state) {
        case JobState::succeeded:
            ++counts_.succeeded;
            break;
        case JobState::failed:
            ++counts_.failed;
            break;
        default:
            ++counts_.cancelled;
            break;
    }
    ++unannounced_;
    store_.finished(r, [this](std::uint64_t seq, const JobStore::Ended& ended) {
        --unannounced_;
        JobRecord* rec = store_.find_by_seq(seq);
        if (rec != nullptr && ended.applied) {
            announce_end(*rec, ended);
        } else {
            check_idle();  // ended elsewhere: told by whoever ended it
        }
    });
}

void Scheduler::announce_end(JobRecord& r, const JobStore::Ended& ended) {
    announce_finished(r);
    if (!ended.batch) {
        return;
    }
    proto::BatchEnd end{*ended.batch, {}, ended.then_error};
    if (ended.follow_up) {
        auto id = follow_up(*ended.follow_up);
        if (id) {
            end.then_job = std::move(*id);
        } else {
            end.then_error = id.error();
        }
    }
    for (auto* observer : observers_) {
        observer->batch_finished(*r.job.batch, end);
    }
}

void Scheduler::ended_elsewhere(JobRecord& r, Job ended) {
    if (r.run_handle != 0) {  // handed or running here: no longer ours to run
        if (r.job.state == JobState::running) {
            stop_running(r, StopReason::cancelled);
        } else {
            executor(r.job.pool)->stop(release_run(r), StopReason::cancelled);
            --handed_[static_cast<std::size_t>(r.job.pool)];
            --counts_.queued;
        }
        schedule_dispatch();
    }
    r.job = std::move(ended);
    answer_waiters(r);
    check_idle();
}

void Scheduler::announce_finished(JobRecord& r) {
    JobState state = r.job.state;
    for (auto* observer : observers_) {
        observer->job_finished(r.job);
    }
    if (r.callback && callbacks_ != nullptr &&
        std::find(r.callback->events.begin(), r.callback->events.end(), to_string(state)) !=
            r.callback->events.end()) {
        callbacks_->deliver(*r.callback, r.job);
    }
    if (r.job.batch && !store_.shared()) {
        count_in_batch(*r.job.batch, state);
    }
    tell_dependents(r);
    answer_waiters(r);
    store_.retain(r);
    arm_retention_timer();
    check_idle();
}

void Scheduler::answer_waiters_now() {
    std::vector<JobRecord*> waited;
    store_.newest_first([&](JobRecord& r) {
        if (!r.waiters.empty()) {
            waited.push_back(&r);
        }
        return true;
    });
    for (JobRecord* r : waited) {
        answer_waiters(*r);
    }
}

void Scheduler::answer_waiters(JobRecord& r) {
    auto waiters = std::exchange(r.waiters, {});
    for (auto& waiter : waiters) {
        waiter.done(r.job);
    }
    waiters.clear();  // and their timers, which cancels them
    constexpr std::size_t max_spare_waiters = 1024;
    if (waiters.capacity() != 0 && spare_waiters_.size() < max_spare_waiters) {
        spare_waiters_.push_back(std::move(waiters));
    }
}

std::uint64_t& Scheduler::tally(proto::BatchCounts& counts, JobState state) {
    return state == JobState::succeeded ? counts.succeeded
           : state == JobState::failed  ? counts.failed
                                        : counts.cancelled;
}

void Scheduler::count_in_batch(const std::string& batch, JobState state) {
    auto it = batches_.find(batch);
    if (it == batches_.end()) {
        return;
    }
    ++tally(it->second.end.counts, state);
    if (--it->second.pending == 0) {
        auto done = std::move(it->second.end);
        batches_.erase(it);
        for (auto* observer : observers_) {
            observer->batch_finished(batch, done);
        }
    }
}

void Scheduler::arm_retention_timer() {
    auto due = store_.next_expiry();
    if (!due || (retention_due_ && *retention_due_ <= *due)) {
        return;
    }
    retention_due_ = due;
    if (*due <= std::chrono::steady_clock::now()) {
        // Due already (more than max_retained kept): after this handler, with no
        // timer to set, so that a stream of finishing jobs is evicted in batches.
        asio::post(io_, [this] { evict_retained(); });
        return;
    }
    retention_timer_.expires_at(*due);
    retention_timer_.async_wait([this](std::error_code ec) {
        if (!ec) {
            evict_retained();
        }
    });
}

void Scheduler::evict_retained() {
    retention_due_.reset();
    store_.expire(std::chrono::steady_clock::now());
    arm_retention_timer();
}

void Scheduler::check_idle() {
    bool queue_kept = stopping_now_ && store_.durable();
    if (!on_idle_) {
        return;
    }
    bool idle = (queue_kept || counts_.queued <= held_by_pauses()) && counts_.running == 0 &&
                unannounced_ == 0 &&
                store_.adding(PoolKind::thread) + store_.adding(PoolKind::process) +
                        store_.adding(PoolKind::remote) ==
                    0;
    if (idle) {
        asio::post(io_, std::exchange(on_idle_, nullptr));
    }
}

}  // namespace taskpool::daemon::sched
