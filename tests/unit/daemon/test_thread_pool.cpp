#include "daemon/pools/thread_pool.hpp"

#include <doctest/doctest.h>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

using namespace taskpool::daemon;
using nlohmann::json;

namespace {

tasks::Task task_of(std::function<tasks::TaskOutcome(const json&, const tasks::TaskContext&)> f) {
    tasks::Task t;
    t.name = "t";
    t.run = std::move(f);
    return t;
}

}  // namespace

TEST_CASE("thread_pool.runs_reports_and_survives_a_throwing_task") {
    asio::io_context io;
    auto work = asio::make_work_guard(io);  // run_one() waits for the posted outcomes
    std::vector<sched::RunOutcome> outcomes;
    pools::ThreadPool pool(io, 2, [&](sched::RunOutcome o) { outcomes.push_back(std::move(o)); });
    auto echo = task_of([](const json& a, const tasks::TaskContext&) { return a; });
    auto thrower = task_of([](const json&, const tasks::TaskContext&) -> tasks::TaskOutcome {
        throw std::runtime_error("boom");
    });
    auto args = std::make_shared<const json>(json{{"x", 1}});
    CHECK(pool.has_idle());
    auto [w1, h1] = pool.start({"a", 1, &echo, args});
    auto [w2, h2] = pool.start({"b", 1, &thrower, args});
    CHECK_FALSE(pool.has_idle());
    CHECK(pool.busy() == 2);
    CHECK(w1.thread != w2.thread);
    while (outcomes.size() < 2) {
        io.run_one();
    }
    CHECK(pool.busy() == 0);
    for (const auto& o : outcomes) {
        if (o.job_id == "a") {
            CHECK(std::get<json>(o.outcome) == json{{"x", 1}});
        } else {
            auto& e = std::get<taskpool::proto::JobError>(o.outcome);
            CHECK(e.code == taskpool::proto::JobErrorCode::task_error);
            CHECK(e.message.find("boom") != std::string::npos);
        }
    }
    // The thread that ran the throwing task still works.
    pool.start({"c", 1, &echo, args});
    pool.start({"d", 1, &echo, args});
    while (outcomes.size() < 4) {
        io.run_one();
    }
}

TEST_CASE("thread_pool.stop_reaches_the_task") {
    asio::io_context io;
    auto work = asio::make_work_guard(io);  // run_one() waits for the posted outcomes
    std::vector<sched::RunOutcome> outcomes;
    pools::ThreadPool pool(io, 1, [&](sched::RunOutcome o) { outcomes.push_back(std::move(o)); });
    auto waits = task_of([](const json&, const tasks::TaskContext& ctx) -> tasks::TaskOutcome {
        while (!ctx.stop.stop_requested()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return json("stopped");
    });
    auto [worker, handle] = pool.start({"a", 1, &waits, std::make_shared<const json>()});
    pool.stop(handle);
    while (outcomes.empty()) {
        io.run_one();
    }
    CHECK(std::get<json>(outcomes[0].outcome) == "stopped");
}
