#include "thread_pool.hpp"

#include <unistd.h>

#include <algorithm>

#include <asio/post.hpp>

#include "daemon/base/io_thread_signals.hpp"

namespace taskpool::daemon::pools {
namespace {

// How many runs the pool holds per thread beyond those running. Enough that under
// load a thread rarely waits for the io thread; few enough that a job of higher
// priority handed later waits behind none of them (the queue is in priority
// order) and a cancelled one is taken back cheaply.
constexpr std::size_t runs_ahead_per_thread = 16;

}  // namespace

ThreadPool::ThreadPool(asio::io_context& io, std::size_t size, sched::RunEvents events)
    : io_(io), events_(std::move(events)), pid_(::getpid()) {
    resize(size);
}

ThreadPool::~ThreadPool() {
    shutdown();
}

void ThreadPool::add_slot() {
    auto slot = std::make_unique<Slot>();
    slot->index = next_index_++;
    slot->worker = proto::WorkerInfo{pid_, slot->index, {}, {}};
    Slot& s = *slot;
    slots_.push_back(std::move(slot));
    s.thread = std::jthread([this, &s] {
        leave_signals_to_the_io_thread();
        work(s);
    });
}

void ThreadPool::resize(std::size_t target) {
    std::size_t add = 0;
    {
        std::lock_guard lock(mutex_);
        if (target >= staying_) {
            retire_wanted_ = 0;
            add = target - staying_;
            staying_ = target;
        } else {
            // Idle threads leave at once; busy ones when their run ends.
            retire_wanted_ = staying_ - target;
        }
    }
    target_ = target;
    for (std::size_t i = 0; i < add; ++i) {
        add_slot();
    }
    wake_.notify_all();
}

std::size_t ThreadPool::busy() const {
    return static_cast<std::size_t>(
        std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s->busy; }));
}

bool ThreadPool::can_take() const {
    return unstarted_ < target_ * runs_ahead_per_thread;
}

std::size_t ThreadPool::room() const {
    return target_ * runs_ahead_per_thread - std::min(unstarted_, target_ * runs_ahead_per_thread);
}

std::uint64_t ThreadPool::start(sched::Run run) {
    std::uint64_t handle = next_handle_++;
    ++unstarted_;
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        // Only the first run of a burst wakes a thread: the thread that takes a run
        // wakes the next if more are left (see work()), so the io thread pays for one
        // wake-up per burst rather than one per run.
        wake = queue_.empty() && waiting_ > 0;
        auto after = std::find_if(queue_.rbegin(), queue_.rend(),
                                  [&](const Handed& h) { return h.run.priority >= run.priority; });
        queue_.insert(after.base(), Handed{handle, std::move(run)});
    }
    if (wake) {
        wake_.notify_one();
    }
    return handle;
}

bool ThreadPool::stop(std::uint64_t handle, sched::StopReason /*reason*/) {
    std::lock_guard lock(mutex_);
    auto queued = std::find_if(queue_.begin(), queue_.end(),
                               [&](const Handed& h) { return h.handle == handle; });
    if (queued != queue_.end()) {
        queue_.erase(queued);
        --unstarted_;
        return true;
    }
    // Under the lock: the thread cannot have moved on to its next run meanwhile.
    for (auto& s : slots_) {
        if (s->running == handle) {
            s->stop.request_stop();
        }
    }
    return false;
}

std::vector<sched::WorkerStatus> ThreadPool::workers() const {
    std::vector<sched::WorkerStatus> out;
    for (const auto& s : slots_) {
        out.push_back({pid_, s->busy ? "busy" : "idle", s->jobs_done});
    }
    return out;
}

void ThreadPool::shutdown() {
    {
        std::lock_guard lock(mutex_);
        queue_.clear();
        exiting_ = true;
        for (auto& s : slots_) {
            s->stop.request_stop();
        }
    }
    wake_.notify_all();
    for (auto& s : slots_) {
        if (s->thread.joinable()) {
            s->thread.join();
        }
    }
}

void ThreadPool::post_reports() {
    asio::post(io_, [this] { read_reports(); });
}

void ThreadPool::read_reports() {
    {
        std::lock_guard lock(mutex_);
        reading_.swap(reports_);
        reports_posted_ = false;
    }
    for (auto& r : reading_) {
        if (auto* began = std::get_if<Began>(&r)) {
            --unstarted_;
            began->slot->busy = true;
            events_.started(std::move(began->started));
        } else if (auto* ended = std::get_if<Ended>(&r)) {
            ended->slot->busy = false;
            ++ended->slot->jobs_done;
            events_.finished(std::move(ended->outcome));
        } else if (auto* progressed = std::get_if<Progressed>(&r)) {
            events_.progress(progressed->seq, progressed->attempt, std::move(progressed->progress));
        } else {
            Slot* gone = std::get<Retired>(r).slot;
            std::erase_if(slots_, [&](const auto& s) { return s.get() == gone; });
        }
    }
    reading_.clear();
}

void ThreadPool::report_progress(const sched::Run& run, proto::RawJson progress) {
    std::unique_lock lock(mutex_);
    if (!reports_.empty()) {
        auto* last = std::get_if<Progressed>(&reports_.back());
        if (last != nullptr && last->seq == run.seq && last->attempt == run.attempt) {
            last->progress = std::move(progress);
            return;
        }
    }
    bool post = report(Progressed{run.seq, run.attempt, std::move(progress)});
    lock.unlock();
    if (post) {
        post_reports();
    }
}

void ThreadPool::work(Slot& s) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (queue_.empty() && retire_wanted_ == 0 && !exiting_) {
            ++waiting_;
            wake_.wait(lock, [&] { return !queue_.empty() || retire_wanted_ > 0 || exiting_; });
            --waiting_;
        }
        if (exiting_) {
            return;
        }
        if (retire_wanted_ > 0) {
            --retire_wanted_;
            --staying_;
            bool post = report(Retired{&s});
            lock.unlock();
            if (post) {
                post_reports();
            }
            return;
        }
        Handed next = std::move(queue_.front());
        queue_.pop_front();
        bool wake_another = !queue_.empty() && waiting_ > 0;
        s.running = next.handle;
        if (s.stop.stop_requested()) {
            s.stop = std::stop_source();  // a stop_source cannot be reset
        }
        std::stop_token stop = s.stop.get_token();
        sched::Run& run = next.run;
        bool post = report(Began{&s, {run.seq, run.attempt, s.worker, proto::now_timestamp()}});
        lock.unlock();
        if (wake_another) {
            wake_.notify_one();
        }
        if (post) {
            post_reports();
        }

        tasks::TaskOutcome outcome;
        try {
            auto progress = [this, &run](proto::RawJson p) { report_progress(run, std::move(p)); };
            outcome = run.task->run(
                run.args, tasks::TaskContext{stop, run.job_id, run.attempt, {}, progress});
        } catch (const std::exception& e) {
            outcome = proto::JobError{proto::JobErrorCode::task_error,
                                      std::string("the task threw: ") + e.what()};
        } catch (...) {
            outcome = proto::JobError{proto::JobErrorCode::task_error, "the task threw"};
        }

        lock.lock();
        s.running = 0;
        if (report(Ended{&s, {run.seq, run.attempt, std::move(outcome)}})) {
            lock.unlock();
            post_reports();
            lock.lock();
        }
    }
}

}  // namespace taskpool::daemon::pools
