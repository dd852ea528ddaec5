#include "daemon/pools/thread_pool.hpp"

#include <doctest/doctest.h>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

using namespace taskpool::daemon;
using nlohmann::json;

namespace {

/// What a test task returns: a tree, which the task it makes gives as text.
using TreeOutcome = std::variant<json, taskpool::proto::JobError>;

tasks::Task task_of(std::function<TreeOutcome(const json&, const tasks::TaskContext&)> f) {
    tasks::Task t;
    t.name = "t";
    t.run = [f = std::move(f)](const taskpool::proto::RawJson& args,
                               const tasks::TaskContext& ctx) -> tasks::TaskOutcome {
        auto outcome = f(args.parse(), ctx);
        if (auto* value = std::get_if<json>(&outcome)) {
            return taskpool::proto::RawJson(*value);
        }
        return std::get<taskpool::proto::JobError>(outcome);
    };
    return t;
}

/// A reported result, as a tree.
json result_of(const tasks::TaskOutcome& outcome) {
    return std::get<taskpool::proto::RawJson>(outcome).parse();
}

/// A pool reports runs by seq; the tests name them, numbered as first used.
std::vector<std::string> run_names;

std::uint64_t seq_of(const std::string& name) {
    auto it = std::find(run_names.begin(), run_names.end(), name);
    if (it == run_names.end()) {
        it = run_names.insert(it, name);
    }
    return static_cast<std::uint64_t>(it - run_names.begin()) + 1;
}

const std::string& name_of(std::uint64_t seq) {
    return run_names.at(seq - 1);
}

/// What a pool reported, in order.
struct Reports {
    std::vector<sched::RunStarted> started;
    std::vector<sched::RunOutcome> outcomes;

    sched::RunEvents events() {
        return {[this](sched::RunStarted s) { started.push_back(std::move(s)); },
                [this](sched::RunOutcome o) {
                    // Every run is reported begun before it is reported ended.
                    CHECK(std::any_of(started.begin(), started.end(),
                                      [&](const auto& s) { return s.seq == o.seq; }));
                    outcomes.push_back(std::move(o));
                },
                [](std::uint64_t, int) { FAIL("a thread pool gives no run back"); }, [] {}};
    }
};

sched::Run run_of(std::string id, const tasks::Task& task, int priority = 0) {
    auto seq = seq_of(id);
    return {seq, std::move(id), 1, priority, &task, taskpool::proto::RawJson(json{{"x", 1}})};
}

}  // namespace

TEST_CASE("thread_pool.runs_reports_and_survives_a_throwing_task") {
    asio::io_context io;
    auto work = asio::make_work_guard(io);  // run_one() waits for the posted reports
    Reports reports;
    pools::ThreadPool pool(io, 2, reports.events());
    auto echo = task_of([](const json& a, const tasks::TaskContext&) { return a; });
    auto thrower = task_of([](const json&, const tasks::TaskContext&) -> TreeOutcome {
        throw std::runtime_error("boom");
    });
    CHECK(pool.can_take());
    pool.start(run_of("a", echo));
    pool.start(run_of("b", thrower));
    while (reports.outcomes.size() < 2) {
        io.run_one();
    }
    CHECK(pool.busy() == 0);
    for (const auto& s : reports.started) {
        CHECK(s.worker->pid == ::getpid());
        CHECK(s.worker->thread.has_value());
    }
    for (const auto& o : reports.outcomes) {
        if (name_of(o.seq) == "a") {
            CHECK(result_of(o.outcome) == json{{"x", 1}});
        } else {
            auto& e = std::get<taskpool::proto::JobError>(o.outcome);
            CHECK(e.code == taskpool::proto::JobErrorCode::task_error);
            CHECK(e.message.find("boom") != std::string::npos);
        }
    }
    // The thread that ran the throwing task still works.
    pool.start(run_of("c", echo));
    pool.start(run_of("d", echo));
    while (reports.outcomes.size() < 4) {
        io.run_one();
    }
}

TEST_CASE("thread_pool.a_burst_of_runs_reaches_every_idle_thread") {
    // Only the first run of a burst wakes a thread; the others must be woken by the
    // threads that take runs. Each run here waits until all four run at once, which
    // they can only do if every idle thread was woken.
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    Reports reports;
    constexpr int threads = 4;
    pools::ThreadPool pool(io, threads, reports.events());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // all idle, waiting
    std::atomic<int> running{0};
    auto together = task_of([&](const json&, const tasks::TaskContext&) -> TreeOutcome {
        ++running;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (running < threads && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return json(running.load());
    });
    for (int i = 0; i < threads; ++i) {
        pool.start(run_of(std::to_string(i), together));
    }
    while (reports.outcomes.size() < threads) {
        io.run_one();
    }
    for (const auto& o : reports.outcomes) {
        CHECK(result_of(o.outcome) == threads);
    }
}

TEST_CASE("thread_pool.holds_runs_ahead_in_priority_order_and_gives_back_unstarted_ones") {
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    Reports reports;
    pools::ThreadPool pool(io, 1, reports.events());
    std::atomic<bool> release{false};
    auto blocks = task_of([&](const json&, const tasks::TaskContext&) -> TreeOutcome {
        while (!release) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return json(nullptr);
    });
    auto echo = task_of([](const json& a, const tasks::TaskContext&) { return a; });
    pool.start(run_of("first", blocks));
    while (reports.started.empty()) {
        io.run_one();
    }
    // The one thread is busy: these wait in the pool, the later, higher one first.
    pool.start(run_of("low", echo));
    auto withdrawn = pool.start(run_of("withdrawn", echo));
    pool.start(run_of("high", echo, 5));
    CHECK(pool.busy() == 1);
    CHECK(pool.stop(withdrawn,
                    sched::StopReason::cancelled));  // not begun: taken back, never reported
    release = true;
    while (reports.outcomes.size() < 3) {
        io.run_one();
    }
    std::vector<std::string> order;
    for (const auto& s : reports.started) {
        order.push_back(name_of(s.seq));
    }
    CHECK(order == std::vector<std::string>{"first", "high", "low"});
}

TEST_CASE("thread_pool.stop_reaches_the_task") {
    asio::io_context io;
    auto work = asio::make_work_guard(io);
    Reports reports;
    pools::ThreadPool pool(io, 1, reports.events());
    auto waits = task_of([](const json&, const tasks::TaskContext& ctx) -> TreeOutcome {
        while (!ctx.stop.stop_requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return json("stopped");
    });
    auto handle = pool.start(run_of("a", waits));
    while (reports.started.empty()) {
        io.run_one();
    }
    CHECK_FALSE(pool.stop(handle, sched::StopReason::cancelled));  // begun: asked to stop
    while (reports.outcomes.empty()) {
        io.run_one();
    }
    CHECK(result_of(reports.outcomes[0].outcome) == "stopped");
    // A stopped thread's next run starts with a fresh stop token.
    auto reports_stop = task_of(
        [](const json&, const tasks::TaskContext& ctx) { return json(ctx.stop.stop_requested()); });
    pool.start(run_of("b", reports_stop));
    while (reports.outcomes.size() < 2) {
        io.run_one();
    }
    CHECK(result_of(reports.outcomes[1].outcome) == false);
}
