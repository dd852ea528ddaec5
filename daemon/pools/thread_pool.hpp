#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>

#include "daemon/sched/executor.hpp"

namespace taskpool::daemon::pools {

/// Runs tasks on a fixed set of threads inside the daemon.
///
/// Each thread has a one-job mailbox; the io thread fills the mailbox of an idle
/// thread (so it knows which thread runs which job) and the thread posts the outcome
/// back to the io thread. A stop request (cancel, timeout, shutdown) reaches the
/// task through its stop_token; the thread stays busy until the task returns. A
/// task that throws fails its job with task_error; the thread lives on.
///
/// Thread-safety: the Executor members are called on the io thread only; each
/// mailbox is guarded by its own mutex, held only to hand over a job.
class ThreadPool final : public sched::Executor {
public:
    ThreadPool(asio::io_context& io, std::size_t size, OnOutcome on_outcome);
    ~ThreadPool() override;
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    std::size_t size() const override { return slots_.size() - retiring_; }
    std::size_t busy() const override { return slots_.size() - idle_.size(); }
    bool has_idle() const override { return !idle_.empty(); }
    std::pair<proto::WorkerInfo, std::uint64_t> start(sched::Run run) override;
    void stop(std::uint64_t handle) override;
    std::vector<sched::WorkerStatus> workers() const override;
    void resize(std::size_t size) override;
    void shutdown() override;

private:
    struct Slot {
        int index = 0;
        // Handover, guarded by `mutex`.
        std::mutex mutex;
        std::condition_variable_any wake;
        std::optional<sched::Run> mailbox;
        std::stop_token run_stop;
        // Owned by the io thread.
        std::uint64_t handle = 0;  // of the run in progress; 0 when idle
        std::stop_source stop;
        std::uint64_t jobs_done = 0;
        bool retiring = false;  // leaves when its run ends
        std::jthread thread;    // last: joined first on destruction
    };

    void work(Slot& slot, const std::stop_token& exit);
    void add_slot();
    void remove_slot(Slot* slot);

    asio::io_context& io_;
    OnOutcome on_outcome_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::vector<Slot*> idle_;
    std::uint64_t next_handle_ = 1;
    int next_index_ = 0;
    std::size_t retiring_ = 0;
};

}  // namespace taskpool::daemon::pools
