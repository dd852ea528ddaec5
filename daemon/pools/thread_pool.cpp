#include "thread_pool.hpp"

#include <unistd.h>

#include <algorithm>

#include <asio/post.hpp>

namespace taskpool::daemon::pools {

ThreadPool::ThreadPool(asio::io_context& io, std::size_t size, OnOutcome on_outcome)
    : io_(io), on_outcome_(std::move(on_outcome)) {
    for (std::size_t i = 0; i < size; ++i) {
        auto slot = std::make_unique<Slot>();
        slot->index = static_cast<int>(i);
        Slot& s = *slot;
        s.thread = std::jthread([this, &s](const std::stop_token& exit) { work(s, exit); });
        idle_.push_back(&s);
        slots_.push_back(std::move(slot));
    }
    // Hand out the lowest index first: easier to read in logs and job.worker.
    std::reverse(idle_.begin(), idle_.end());
}

ThreadPool::~ThreadPool() {
    shutdown();
}

std::pair<proto::WorkerInfo, std::uint64_t> ThreadPool::start(sched::Run run) {
    Slot& s = *idle_.back();
    idle_.pop_back();
    s.handle = next_handle_++;
    s.stop = std::stop_source();
    {
        std::lock_guard lock(s.mutex);
        s.mailbox = std::move(run);
        s.run_stop = s.stop.get_token();
    }
    s.wake.notify_one();
    return {proto::WorkerInfo{::getpid(), s.index}, s.handle};
}

void ThreadPool::stop(std::uint64_t handle) {
    for (auto& s : slots_) {
        if (s->handle == handle) {
            s->stop.request_stop();
        }
    }
}

std::vector<sched::WorkerStatus> ThreadPool::workers() const {
    std::vector<sched::WorkerStatus> out;
    for (const auto& s : slots_) {
        out.push_back({::getpid(), s->handle != 0 ? "busy" : "idle", s->jobs_done});
    }
    return out;
}

void ThreadPool::shutdown() {
    for (auto& s : slots_) {
        s->stop.request_stop();
        s->thread.request_stop();
    }
    for (auto& s : slots_) {
        if (s->thread.joinable()) {
            s->thread.join();
        }
    }
}

void ThreadPool::work(Slot& s, const std::stop_token& exit) {
    for (;;) {
        sched::Run run;
        std::stop_token stop;
        {
            std::unique_lock lock(s.mutex);
            if (!s.wake.wait(lock, exit, [&] { return s.mailbox.has_value(); })) {
                return;
            }
            run = std::move(*s.mailbox);
            s.mailbox.reset();
            stop = s.run_stop;
        }
        tasks::TaskOutcome outcome;
        try {
            outcome = run.task->run(*run.args, tasks::TaskContext{stop});
        } catch (const std::exception& e) {
            outcome = proto::JobError{proto::JobErrorCode::task_error,
                                      std::string("the task threw: ") + e.what()};
        } catch (...) {
            outcome = proto::JobError{proto::JobErrorCode::task_error, "the task threw"};
        }
        asio::post(io_, [this, &s,
                         done = sched::RunOutcome{std::move(run.job_id), run.attempt,
                                                  std::move(outcome)}]() mutable {
            s.handle = 0;
            ++s.jobs_done;
            idle_.push_back(&s);
            on_outcome_(std::move(done));
        });
    }
}

}  // namespace taskpool::daemon::pools
