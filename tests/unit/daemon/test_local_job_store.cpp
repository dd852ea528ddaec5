// The embedded job store: its runnable lists, and what its journal gives back
// after a restart.
#include "daemon/store/local_job_store.hpp"

#include <set>
#include <tuple>

#include <doctest/doctest.h>
#include <asio/executor_work_guard.hpp>

#include "tests/support/temp_dir.hpp"

using namespace taskpool::daemon;
using namespace std::chrono_literals;
using nlohmann::json;
using taskpool::proto::JobError;
using taskpool::proto::JobErrorCode;
using taskpool::proto::JobState;
using taskpool::proto::PoolKind;
using taskpool::proto::RawJson;

namespace {

sched::JobRecord record_of_priority(std::uint64_t seq, int priority = 0) {
    sched::JobRecord r;
    r.seq = seq;
    r.job.id = "j-" + std::to_string(seq);
    r.job.task = "echo";
    r.job.args = RawJson(json{{"n", seq}});
    r.job.priority = priority;
    r.job.submitted_at = taskpool::proto::now_timestamp();
    return r;
}

std::vector<sched::JobRecord*> add(store::LocalJobStore& jobs,
                                   std::vector<sched::JobRecord> records) {
    std::vector<sched::JobRecord*> added;
    jobs.add(records, [&](auto result) {
        REQUIRE(result.ok());
        added.assign(result->begin(), result->end());
    });
    return added;
}

/// Runs the io loop until `done` (the journal's writer thread posts its callbacks).
template <class Done>
void run_until(asio::io_context& io, Done done) {
    io.restart();  // a guard let go of last time stopped it
    auto work = asio::make_work_guard(io);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        io.run_for(10ms);
    }
}

/// Opens every queue but those named closed.
struct Gate final : sched::QueueGate {
    std::set<std::string, std::less<>> closed;
    bool open(std::string_view queue) override { return !closed.contains(queue); }
};

}  // namespace

TEST_CASE("local_job_store.runnable_jobs_come_out_best_first") {
    store::LocalJobStore jobs({}, nullptr);
    std::vector<sched::JobRecord> records;
    for (auto [seq, priority] : {std::pair{1, 0}, {2, 5}, {3, 0}, {4, -1}, {5, 5}}) {
        records.push_back(record_of_priority(seq, priority));
    }
    auto added = add(jobs, std::move(records));
    REQUIRE(added.size() == 5);
    for (auto* r : added) {
        jobs.make_runnable(*r);
    }
    jobs.withdraw_runnable(*added[2]);  // j-3, cancelled
    CHECK(jobs.runnable(PoolKind::thread) == 4);
    std::vector<std::string> order;
    Gate gate;
    while (auto* r = jobs.take_runnable(PoolKind::thread, gate)) {
        order.push_back(r->job.id);
    }
    CHECK(order == std::vector<std::string>{"j-2", "j-5", "j-1", "j-4"});
    CHECK(jobs.take_runnable(PoolKind::process, gate) == nullptr);
}

TEST_CASE("local_job_store.a_closed_queue_holds_back_only_its_own_jobs") {
    store::LocalJobStore jobs({}, nullptr);
    std::vector<sched::JobRecord> records;
    for (auto [seq, priority, queue] :
         {std::tuple{1, 9, "held"}, {2, 5, ""}, {3, 7, "mail"}, {4, 9, "held"}, {5, 5, "mail"}}) {
        records.push_back(record_of_priority(seq, priority));
        if (*queue != '\0') {
            records.back().job.queue = std::string(queue);
        }
    }
    for (auto* r : add(jobs, std::move(records))) {
        jobs.make_runnable(*r);
    }
    CHECK(jobs.runnable_in("held") == 2);
    CHECK(jobs.runnable_in("mail") == 2);
    Gate gate;
    gate.closed = {"held"};
    std::vector<std::string> order;
    while (auto* r = jobs.take_runnable(PoolKind::thread, gate)) {
        order.push_back(r->job.id);
    }
    // Best first among the open lanes; the held queue's better jobs stay.
    CHECK(order == std::vector<std::string>{"j-3", "j-2", "j-5"});
    CHECK(jobs.runnable(PoolKind::thread) == 2);
    CHECK(jobs.runnable_in("mail") == 0);
    gate.closed.clear();
    CHECK(jobs.take_runnable(PoolKind::thread, gate)->job.id == "j-1");
    CHECK(jobs.take_runnable(PoolKind::thread, gate)->job.id == "j-4");
    CHECK(jobs.runnable_in("held") == 0);
}

TEST_CASE("local_job_store.its_journal_gives_every_job_back_as_it_was") {
    taskpool::test::TempDir dir;
    auto path = (dir.path() / "journal.db").string();
    asio::io_context io;
    {
        store::Journal journal(io, path, store::Sync::normal);
        (void)journal.restore();
        journal.start();
        store::LocalJobStore jobs({}, &journal);
        std::vector<sched::JobRecord> records;
        for (std::uint64_t seq = 1; seq <= 4; ++seq) {
            records.push_back(record_of_priority(seq));
        }
        records[3].key = std::string("k");
        std::vector<sched::JobRecord*> added;
        jobs.add(records, [&](auto result) { added.assign(result->begin(), result->end()); });
        CHECK(jobs.adding(PoolKind::thread) == 4);
        CHECK(jobs.adding_key("k"));
        run_until(io, [&] { return !added.empty(); });
        REQUIRE(added.size() == 4);
        CHECK(jobs.adding(PoolKind::thread) == 0);

        // j-2 runs, j-3 ends with a result, j-4 fails; j-1 stays queued.
        auto start = [&](sched::JobRecord& r) {
            r.job.state = JobState::running;
            r.job.attempts = 1;
            r.job.worker = taskpool::proto::WorkerInfo{42, 1};
            r.job.started_at = taskpool::proto::now_timestamp();
            jobs.started(r);
        };
        auto end = [&](sched::JobRecord& r, JobState state) {
            r.job.state = state;
            r.job.finished_at = taskpool::proto::now_timestamp();
            jobs.finished(r, [](std::uint64_t, const auto&) {});
        };
        start(*added[1]);
        start(*added[2]);
        added[2]->job.result = RawJson(json{{"v", "é"}});
        end(*added[2], JobState::succeeded);
        added[3]->job.error = JobError{JobErrorCode::task_error, "no"};
        end(*added[3], JobState::failed);
        bool durable = false;
        jobs.when_durable([&] { durable = true; });
        run_until(io, [&] { return durable; });
        CHECK(durable);
        journal.stop();
    }

    store::Journal journal(io, path, store::Sync::normal);
    auto restored = journal.restore();
    REQUIRE(restored.jobs.size() == 4);
    const auto& jobs = restored.jobs;
    CHECK(jobs[0].job.state == JobState::queued);
    CHECK(jobs[0].job.args.text() == R"({"n":1})");
    CHECK(jobs[1].job.state == JobState::running);
    CHECK(jobs[1].job.worker == taskpool::proto::WorkerInfo{42, 1});
    CHECK(jobs[2].job.state == JobState::succeeded);
    CHECK(jobs[2].job.result->text() == R"({"v":"é"})");
    CHECK(jobs[3].job.state == JobState::failed);
    CHECK(jobs[3].job.error == JobError{JobErrorCode::task_error, "no"});
    CHECK(*jobs[3].key == "k");

    // Restored into a store whose retention has already run out for finished jobs.
    store::LocalJobStore expired({.ttl = 0ms}, nullptr);
    auto kept = expired.restore(restored.jobs);
    REQUIRE(kept.size() == 2);
    CHECK(kept[0]->job.id == "j-1");
    CHECK(kept[1]->job.id == "j-2");
    CHECK(expired.find("j-3") == nullptr);

    store::LocalJobStore retained({}, nullptr);
    CHECK(retained.restore(std::move(restored.jobs)).size() == 4);
    CHECK(retained.find_by_key("k")->job.id == "j-4");
    auto due = retained.next_expiry();
    REQUIRE(due);
    CHECK(*due > std::chrono::steady_clock::now() + 50min);
}
