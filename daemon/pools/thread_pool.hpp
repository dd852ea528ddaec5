#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <asio/io_context.hpp>

#include "daemon/sched/executor.hpp"

namespace taskpool::daemon::pools {

/// Runs tasks on a set of threads inside the daemon.
///
/// The io thread hands runs to a small queue shared by the threads (highest
/// priority first, then in the order handed), ahead of the threads that will take
/// them: a thread that ends a run takes the next at once, without a round trip
/// through the io thread. Each thread reports when it begins and ends a run; the
/// reports are gathered and posted to the io thread in batches, one wake-up for
/// many runs under load. A stop request (cancel, timeout, shutdown) reaches the
/// task through its stop_token; the thread stays busy until the task returns. A
/// task that throws fails its job with task_error; the thread lives on.
///
/// Thread-safety: the Executor members are called on the io thread only. `mutex_`
/// guards the queue, the reports and each thread's current run; it is never held
/// while a task runs.
class ThreadPool final : public sched::Executor {
public:
    ThreadPool(asio::io_context& io, std::size_t size, sched::RunEvents events);
    ~ThreadPool() override;
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    std::size_t size() const override { return target_; }
    std::size_t busy() const override;
    bool can_take() const override;
    std::size_t room() const override;
    std::uint64_t start(sched::Run run) override;
    bool stop(std::uint64_t handle, sched::StopReason reason) override;
    std::vector<sched::WorkerStatus> workers() const override;
    void resize(std::size_t size) override;
    void shutdown() override;

private:
    struct Slot {
        int index = 0;
        proto::Shared<proto::WorkerInfo> worker;  // what each of its jobs tells
        // Guarded by mutex_.
        std::uint64_t running = 0;  // handle of the run in progress; 0: none
        std::stop_source stop;      // of that run
        // Owned by the io thread, from the reports.
        bool busy = false;
        std::uint64_t jobs_done = 0;
        std::jthread thread;  // last: joined first on destruction
    };
    struct Handed {
        std::uint64_t handle = 0;
        sched::Run run;
    };
    struct Began {
        Slot* slot;
        sched::RunStarted started;
    };
    struct Ended {
        Slot* slot;
        sched::RunOutcome outcome;
    };
    struct Retired {
        Slot* slot;
    };
    struct Progressed {
        std::uint64_t seq;
        int attempt;
        proto::RawJson progress;
    };
    using Report = std::variant<Began, Ended, Retired, Progressed>;

    void work(Slot& slot);
    /// Adds a report (under mutex_); true when the io thread must be asked to read them.
    template <class R>
    bool report(R&& r) {
        reports_.emplace_back(std::in_place_type<std::remove_cvref_t<R>>, std::forward<R>(r));
        return !std::exchange(reports_posted_, true);
    }
    /// A task's progress: replaces its previous one where that is still unread,
    /// so a task that reports in a tight loop costs the io thread one event per batch.
    void report_progress(const sched::Run& run, proto::RawJson progress);
    void post_reports();
    void read_reports();
    void add_slot();

    asio::io_context& io_;
    sched::RunEvents events_;
    const std::int64_t pid_;
    // Owned by the io thread.
    std::vector<std::unique_ptr<Slot>> slots_;
    std::size_t target_ = 0;
    std::size_t unstarted_ = 0;  // runs handed over and not yet reported begun
    std::uint64_t next_handle_ = 1;
    int next_index_ = 0;
    std::vector<Report> reading_;

    std::mutex mutex_;
    // Not condition_variable_any: libstdc++'s signals under a mutex of its own, so
    // a thread it wakes blocks at once on that mutex and needs a second wake-up.
    std::condition_variable wake_;
    std::deque<Handed> queue_;
    std::vector<Report> reports_;
    bool reports_posted_ = false;
    std::size_t waiting_ = 0;        // threads waiting for a run
    std::size_t staying_ = 0;        // threads that have not decided to leave
    std::size_t retire_wanted_ = 0;  // of those, how many are to leave
    bool exiting_ = false;           // shutdown: every thread leaves
};

}  // namespace taskpool::daemon::pools
