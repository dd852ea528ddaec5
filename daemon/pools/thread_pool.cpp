#include "thread_pool.hpp"

#include <unistd.h>

#include <algorithm>

#include <asio/post.hpp>

namespace taskpool::daemon::pools {

ThreadPool::ThreadPool(asio::io_context& io, std::size_t size, OnOutcome on_outcome)
    : io_(io), on_outcome_(std::move(on_outcome)) {
    resize(size);
}

void ThreadPool::add_slot() {
    auto slot = std::make_unique<Slot>();
    slot->index = next_index_++;
    Slot& s = *slot;
    s.thread = std::jthread([this, &s](const std::stop_token& exit) { work(s, exit); });
    // Lowest index first: easier to read in logs and job.worker.
    idle_.insert(idle_.begin(), &s);
    slots_.push_back(std::move(slot));
}

void ThreadPool::remove_slot(Slot* slot) {
    std::erase(idle_, slot);
    // The slot's jthread is asked to stop and joined as it is destroyed; an idle
    // thread waits on its mailbox with that stop token and returns at once.
    std::erase_if(slots_, [&](const auto& s) { return s.get() == slot; });
}

void ThreadPool::resize(std::size_t target) {
    for (auto& s : slots_) {  // growing: first keep the ones about to leave
        if (size() >= target) {
            break;
        }
        if (s->retiring) {
            s->retiring = false;
            --retiring_;
        }
    }
    while (size() < target) {
        add_slot();
    }
    while (size() > target && !idle_.empty()) {
        remove_slot(idle_.back());
    }
    for (auto& s : slots_) {
        if (size() <= target) {
            break;
        }
        if (!s->retiring) {
            s->retiring = true;
            ++retiring_;
        }
    }
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
            outcome = run.task->run(*run.args, tasks::TaskContext{stop, run.job_id, {}});
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
            on_outcome_(std::move(done));
            if (s.retiring) {
                --retiring_;
                remove_slot(&s);
            } else {
                idle_.push_back(&s);
            }
        });
    }
}

}  // namespace taskpool::daemon::pools
