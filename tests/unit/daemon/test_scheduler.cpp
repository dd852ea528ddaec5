// The scheduler alone: a fake pool it hands runs to, and a fake store that keeps
// jobs in a plain list and records what it was told, so that each rule of a job's
// life is seen without threads, processes or a journal.
#include "daemon/sched/scheduler.hpp"

#include "daemon/tasks/registry.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

using namespace taskpool::daemon;
using namespace std::chrono_literals;
using nlohmann::json;
using taskpool::proto::ErrorCode;
using taskpool::proto::Job;
using taskpool::proto::JobError;
using taskpool::proto::JobErrorCode;
using taskpool::proto::JobState;
using taskpool::proto::PoolKind;
using taskpool::proto::RawJson;

namespace {

/// A pool that takes `capacity` runs and does nothing with them: the test reports
/// their starts and ends.
class FakeExecutor final : public sched::Executor {
public:
    std::size_t capacity = 0;
    std::vector<sched::Run> runs;  // handed over, in order
    std::set<std::uint64_t> begun;
    std::vector<std::uint64_t> stopped;

    std::size_t size() const override { return capacity; }
    std::size_t busy() const override { return held_; }
    bool can_take() const override { return held_ < capacity; }
    std::uint64_t start(sched::Run run) override {
        runs.push_back(std::move(run));
        ++held_;
        return runs.size();
    }
    bool stop(std::uint64_t handle, sched::StopReason /*reason*/) override {
        stopped.push_back(handle);
        --held_;
        return !begun.contains(handle);
    }
    std::vector<sched::WorkerStatus> workers() const override { return {}; }
    void resize(std::size_t size) override { capacity = size; }
    void shutdown() override {}

    /// The run of this job that was handed over last.
    std::uint64_t handle_of(const std::string& job_id) const {
        for (std::size_t i = runs.size(); i > 0; --i) {
            if (runs[i - 1].job_id == job_id) {
                return i;
            }
        }
        FAIL("no run of " << job_id);
        return 0;
    }
    void ended() { --held_; }

private:
    std::size_t held_ = 0;
};

/// A store in a plain list. It records the changes it is told of; with `deferred`
/// it makes nothing durable until commit(), as a journal that has not committed yet.
class FakeStore final : public sched::JobStore {
public:
    bool deferred = false;
    std::vector<std::string> changes;  // "started j-1", "finished j-1", ...

    void add(std::span<sched::JobRecord> records, Added added) override {
        later(
            [this,
             records = std::make_shared<std::vector<sched::JobRecord>>(
                 std::make_move_iterator(records.begin()), std::make_move_iterator(records.end())),
             added = std::move(added)]() mutable {
                std::vector<sched::JobRecord*> out;
                for (auto& r : *records) {
                    auto seq = r.seq;
                    auto& kept = jobs_[seq] = std::make_unique<sched::JobRecord>(std::move(r));
                    changes.push_back("added " + kept->job.id);
                    out.push_back(kept.get());
                }
                added(std::span<sched::JobRecord* const>(out));
            });
    }
    bool adding_key(std::string_view) const override { return false; }
    std::size_t adding(PoolKind) const override { return 0; }
    std::vector<sched::JobRecord*> restore(std::vector<sched::StoredJob>) override { return {}; }

    void lookup(std::span<const std::string> ids, Found found) override {
        std::vector<sched::JobRecord*> records;
        for (const auto& id : ids) {
            records.push_back(find(id));
        }
        found(std::span<sched::JobRecord* const>(records));
    }
    void list(const taskpool::proto::ListRequest&, Listed listed) override {
        std::vector<const Job*> jobs;
        newest_first([&](sched::JobRecord& r) {
            jobs.push_back(&r.job);
            return true;
        });
        listed(std::span<const Job* const>(jobs));
    }
    sched::JobRecord* find(std::string_view id) override {
        for (auto& [seq, r] : jobs_) {
            if (r->job.id == id) {
                return r.get();
            }
        }
        return nullptr;
    }
    sched::JobRecord* find_by_seq(std::uint64_t seq) override {
        auto it = jobs_.find(seq);
        return it == jobs_.end() ? nullptr : it->second.get();
    }
    sched::JobRecord* find_by_key(std::string_view key) override {
        for (auto& [seq, r] : jobs_) {
            if (r->key && *r->key == key) {
                return r.get();
            }
        }
        return nullptr;
    }
    void newest_first(const std::function<bool(sched::JobRecord&)>& visit) override {
        for (auto it = jobs_.rbegin(); it != jobs_.rend() && visit(*it->second); ++it) {
        }
    }

    void make_runnable(sched::JobRecord& r) override { runnable_.push_back(&r); }
    sched::JobRecord* take_runnable(PoolKind pool, sched::QueueGate& gate) override {
        return take_runnable(pool, {}, gate);
    }
    sched::JobRecord* take_runnable(PoolKind pool, std::span<const std::string_view> tasks,
                                    sched::QueueGate& /*gate*/) override {
        // The best: highest priority, then the first to arrive.
        auto best = runnable_.end();
        for (auto it = runnable_.begin(); it != runnable_.end(); ++it) {
            if ((*it)->job.pool == pool &&
                (tasks.empty() ||
                 std::find(tasks.begin(), tasks.end(), (*it)->job.task) != tasks.end()) &&
                (best == runnable_.end() || (*it)->job.priority > (*best)->job.priority ||
                 ((*it)->job.priority == (*best)->job.priority && (*it)->seq < (*best)->seq))) {
                best = it;
            }
        }
        if (best == runnable_.end()) {
            return nullptr;
        }
        auto* r = *best;
        runnable_.erase(best);
        return r;
    }
    void withdraw_runnable(const sched::JobRecord& r) override {
        changes.push_back("withdrawn " + r.job.id);
        std::erase(runnable_, &r);
    }
    std::size_t runnable(PoolKind pool) const override {
        return static_cast<std::size_t>(std::count_if(
            runnable_.begin(), runnable_.end(), [&](auto* r) { return r->job.pool == pool; }));
    }
    std::size_t runnable_in(std::string_view) const override { return 0; }
    std::size_t runnable_in(std::string_view, PoolKind) const override { return 0; }

    void started(const sched::JobRecord& r) override { changes.push_back("started " + r.job.id); }
    void requeued(const sched::JobRecord& r) override { changes.push_back("requeued " + r.job.id); }
    void returned(const sched::JobRecord& r) override { changes.push_back("returned " + r.job.id); }
    void retried(sched::JobRecord& r) override { changes.push_back("retried " + r.job.id); }
    void released(const sched::JobRecord& r) override { changes.push_back("released " + r.job.id); }
    void finished(const sched::JobRecord& r, Durable durable) override {
        changes.push_back("finished " + r.job.id);
        later([seq = r.seq, durable = std::move(durable)] { durable(seq, {}); });
    }

    void retain(sched::JobRecord&) override {}
    std::optional<sched::SteadyTime> next_expiry() const override { return std::nullopt; }
    void expire(sched::SteadyTime) override {}

    void when_durable(base::Callback<void()> f) override { later(std::move(f)); }
    bool durable() const override { return deferred; }
    taskpool::proto::Error unavailable(std::string_view consequence) const override {
        return {ErrorCode::unavailable, std::string(consequence)};
    }

    /// Makes everything so far durable.
    void commit() {
        for (auto& f : std::exchange(pending_, {})) {
            f();
        }
    }

private:
    void later(base::Callback<void()> f) { deferred ? pending_.push_back(std::move(f)) : f(); }

    std::map<std::uint64_t, std::unique_ptr<sched::JobRecord>> jobs_;
    std::vector<sched::JobRecord*> runnable_;
    std::vector<base::Callback<void()>> pending_;
};

struct Fixture {
    asio::io_context io;
    tasks::TaskRegistry tasks;
    FakeStore store;
    FakeExecutor pool;
    std::unique_ptr<sched::Scheduler> scheduler;

    explicit Fixture(sched::Scheduler::Settings settings = {}) {
        tasks::register_builtin_tasks(tasks, false);
        scheduler = std::make_unique<sched::Scheduler>(io, tasks, store, settings,
                                                       std::vector<sched::JobObserver*>{});
        scheduler->set_executor(PoolKind::thread, &pool);
    }

    /// Submits an echo job; its id, or the error's code as "!code".
    std::string submit(taskpool::proto::SubmitOptions options = {}, double block_s = 0,
                       std::string* late = nullptr) {
        std::string id;
        std::string* out = late != nullptr ? late : &id;
        *out = "(no answer yet)";
        scheduler->submit({"echo", RawJson(json{{"x", 1}}), std::nullopt, options}, block_s,
                          [out](taskpool::proto::Result<const Job*> job) {
                              *out =
                                  job ? (*job)->id : "!" + std::string(to_string(job.error().code));
                          });
        io.poll();
        io.restart();
        return id;
    }
    std::string submit_priority(int priority) {
        taskpool::proto::SubmitOptions options;
        options.priority = priority;
        return submit(options);
    }
    void begin(const std::string& id) {
        auto handle = pool.handle_of(id);
        pool.begun.insert(handle);
        const auto& run = pool.runs[handle - 1];
        scheduler->on_started({run.seq, run.attempt, taskpool::proto::WorkerInfo{1, 0}, {}});
        settle();
    }
    void end(const std::string& id, tasks::TaskOutcome outcome) {
        pool.ended();
        const auto& run = pool.runs[pool.handle_of(id) - 1];
        scheduler->on_outcome({run.seq, run.attempt, std::move(outcome)});
        settle();
    }
    void settle() {
        io.poll();
        io.restart();
    }
    const Job& job(const std::string& id) { return *scheduler->find(id); }
    taskpool::proto::Result<const Job*> cancel(const std::string& id) {
        taskpool::proto::Result<const Job*> result = nullptr;
        scheduler->cancel(id, [&](auto r) { result = r; });
        return result;
    }
    std::vector<std::string> handed() const {
        std::vector<std::string> ids;
        for (const auto& run : pool.runs) {
            ids.push_back(run.job_id);
        }
        return ids;
    }
};

}  // namespace

TEST_CASE("scheduler.runs_the_highest_priority_first_and_equals_in_arrival_order") {
    Fixture f;
    auto low = f.submit_priority(-5);
    auto first = f.submit_priority(0);
    auto high = f.submit_priority(9);
    auto second = f.submit_priority(0);
    CHECK(f.handed().empty());  // the pool takes nothing yet
    f.pool.capacity = 4;
    f.scheduler->capacity_changed();
    f.settle();
    CHECK(f.handed() == std::vector<std::string>{high, first, second, low});
    CHECK(f.job(first).state == JobState::queued);  // until the pool says it began
    f.begin(first);
    CHECK(f.job(first).state == JobState::running);
    f.end(first, RawJson(json{{"x", 1}}));
    CHECK(f.job(first).state == JobState::succeeded);
    CHECK(f.job(first).result->text() == R"({"x":1})");
    CHECK(f.store.changes == std::vector<std::string>{"added " + low, "added " + first,
                                                      "added " + high, "added " + second,
                                                      "started " + first, "finished " + first});
}

TEST_CASE("scheduler.a_full_queue_refuses_or_blocks_for_block_s") {
    Fixture f({.queue_max_size = 2});
    auto a = f.submit();
    f.submit();
    CHECK(f.submit() == "!queue_full");
    std::string admitted;
    f.submit({}, 30, &admitted);
    CHECK(admitted == "(no answer yet)");  // parked until there is room
    REQUIRE(f.cancel(a).ok());
    f.settle();
    CHECK(admitted.starts_with("j-"));
    std::string refused;
    f.submit({}, 0.02, &refused);
    f.io.run_for(100ms);
    CHECK(refused == "!queue_full");
}

TEST_CASE("scheduler.a_failed_attempt_with_a_retry_left_runs_again") {
    Fixture f;
    f.pool.capacity = 1;
    taskpool::proto::SubmitOptions options;
    options.retries = 1;
    auto id = f.submit(options);
    f.begin(id);
    f.end(id, JobError{JobErrorCode::task_error, "once"});
    CHECK(f.job(id).state == JobState::queued);
    CHECK(f.pool.runs.size() == 2);  // handed over again
    CHECK(f.pool.runs[1].attempt == 2);
    f.begin(id);
    f.end(id, JobError{JobErrorCode::task_error, "twice"});
    CHECK(f.job(id).state == JobState::failed);
    CHECK(f.job(id).attempts == 2);
    CHECK(f.job(id).error->message == "twice");
    CHECK(std::count(f.store.changes.begin(), f.store.changes.end(), "requeued " + id) == 1);
}

TEST_CASE("scheduler.a_run_past_its_timeout_is_stopped_and_fails") {
    Fixture f;
    f.pool.capacity = 1;
    taskpool::proto::SubmitOptions options;
    options.timeout_s = 0.02;
    auto id = f.submit(options);
    f.begin(id);
    f.io.run_for(100ms);
    CHECK(f.job(id).state == JobState::failed);
    CHECK(f.job(id).error->code == JobErrorCode::timeout);
    CHECK(f.pool.stopped == std::vector<std::uint64_t>{1});
    f.scheduler->on_outcome(
        {f.pool.runs[0].seq, 1, RawJson(json(1))});  // the late outcome changes nothing
    CHECK(f.job(id).state == JobState::failed);
}

TEST_CASE("scheduler.cancel_in_each_state") {
    Fixture f;
    auto queued = f.submit();
    f.pool.capacity = 2;
    f.scheduler->capacity_changed();
    f.settle();
    auto handed = queued;  // now held by the pool, not begun
    auto running = f.submit();
    f.begin(running);

    REQUIRE(f.cancel(handed).ok());
    CHECK(f.job(handed).state == JobState::cancelled);
    CHECK(f.pool.stopped.size() == 1);

    REQUIRE(f.cancel(running).ok());
    CHECK(f.job(running).state == JobState::cancelled);
    CHECK(f.pool.stopped.size() == 2);

    f.pool.capacity = 0;
    auto waiting = f.submit();
    REQUIRE(f.cancel(waiting).ok());
    CHECK(f.job(waiting).state == JobState::cancelled);
    CHECK(std::find(f.store.changes.begin(), f.store.changes.end(), "withdrawn " + waiting) !=
          f.store.changes.end());

    auto again = f.cancel(running);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == ErrorCode::not_cancellable);
    CHECK(f.cancel("j-nope").error().code == ErrorCode::no_such_job);
}

TEST_CASE("scheduler.nothing_is_acknowledged_or_announced_before_the_store_made_it_durable") {
    Fixture f;
    f.store.deferred = true;
    f.pool.capacity = 1;
    std::string id;
    f.submit({}, 0, &id);
    CHECK(id == "(no answer yet)");
    f.store.commit();
    f.settle();
    REQUIRE(id.starts_with("j-"));
    std::optional<JobState> seen;
    f.scheduler->wait(id, 60, [&](const Job& job) { seen = job.state; });
    f.begin(id);
    f.end(id, RawJson(json(1)));
    CHECK(f.job(id).state == JobState::succeeded);
    CHECK_FALSE(seen);  // its end is not durable yet
    f.store.commit();
    CHECK(seen == JobState::succeeded);
}
