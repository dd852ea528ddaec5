#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/steady_timer.hpp>

#include "child_reaper.hpp"
#include "daemon/base/logging.hpp"
#include "daemon/sched/executor.hpp"
#include "daemon/tasks/registry.hpp"
#include "worker_protocol.hpp"

namespace taskpool::daemon::pools {

/// Runs tasks in worker processes, one job at a time each, so that a task that
/// crashes, hangs or leaks takes only its own worker with it.
///
/// A fixed table of slots, each a worker: the daemon's own binary re-executed in
/// worker mode (posix_spawn, never fork() of the threaded daemon) in its own
/// process group, talking over one socketpair with the same line framing as
/// clients. Every exit reaches on_exit() from the ChildReaper. A worker that dies
/// fails its job with worker_crashed and is replaced at once; one that dies without
/// a job (before it said it was ready, or while idle) is replaced after a back-off
/// that doubles each time until a job completes, so a worker that cannot run does
/// not make the daemon spin or flood the log. Timeout and cancel SIGKILL the
/// worker's process group, and that of a command it runs, and replace the worker
/// at once; `max_jobs_per_worker` recycles a worker after that many jobs, and
/// `memory_limit_mb` replaces one whose resident memory passes it, failing its job.
///
/// A busy worker whose runs are short (by the recent run times of their tasks) is
/// sent more runs to hold behind the one it runs, which it begins as soon as it
/// writes the last outcome: no round trip through the io thread between two short
/// jobs. Nothing waits behind a long run, so a held job waits only for a few short
/// ones. Runs waiting on a worker that
/// dies go back to the scheduler's queue; one cancelled while it waits is dropped,
/// and if the worker begins it anyway the worker is killed like any cancelled run.
/// Thread-safety: io thread only.
class ProcessPool final : public sched::Executor {
public:
    struct Settings {
        std::size_t size = 1;
        std::int64_t max_jobs_per_worker = 0;  // 0: never recycle
        std::int64_t memory_limit_mb = 0;      // resident, the job's commands too; 0: none
        std::optional<std::string> user;       // workers drop to this user
        tasks::TaskSetup tasks;                // sent to each worker as it starts
    };

    /// Tells `events.capacity` when a replaced worker becomes idle, so that queued
    /// jobs are dispatched to it. Every worker is reaped through `reaper`.
    ProcessPool(asio::io_context& io, ChildReaper& reaper, Settings settings,
                sched::RunEvents events);
    ~ProcessPool() override;
    ProcessPool(const ProcessPool&) = delete;
    ProcessPool& operator=(const ProcessPool&) = delete;

    std::size_t size() const override;
    std::size_t busy() const override;
    bool can_take() const override;
    std::size_t room() const override;
    std::uint64_t start(sched::Run run) override;
    bool stop(std::uint64_t handle, sched::StopReason reason) override;
    std::vector<sched::WorkerStatus> workers() const override;
    void resize(std::size_t size) override;
    void shutdown() override;

private:
    using Clock = std::chrono::steady_clock;
    using Channel = asio::local::stream_protocol::socket;
    enum class State { idle, busy, stopping, waiting_to_respawn };

    /// A run sent to a worker: the first one it runs, the rest wait in its channel.
    struct Held {
        std::uint64_t seq = 0;
        std::string job_id;
        int attempt = 0;
        std::uint64_t handle = 0;
        const tasks::Task* task = nullptr;
        bool withdrawn = false;  // cancelled while it waited
    };

    struct Slot : std::enable_shared_from_this<Slot> {
        explicit Slot(asio::io_context& io) : respawn_timer(io), take_timer(io) {}
        int index = 0;
        pid_t pid = -1;
        proto::Shared<proto::WorkerInfo> worker;  // of the worker process, for its jobs
        pid_t child_pgid = 0;                     // of a command the running task started
        State state = State::waiting_to_respawn;
        std::shared_ptr<Channel> channel;
        std::deque<Held> runs;        // front: the run in progress (when busy)
        std::uint64_t jobs_done = 0;  // by the current worker
        std::string out;              // runs not yet written
        bool writing = false;         // a write to the channel is under way
        bool ready = false;           // the worker said it is set up
        int failed_starts = 0;        // deaths without a job since the last completed one
        bool retiring = false;        // the slot goes away when its worker exits
        std::size_t over_memory = 0;  // killed at this resident size (memory_limit_mb)
        bool hung = false;            // killed for not taking the run it was handed

        asio::steady_timer respawn_timer;
        asio::steady_timer take_timer;
    };

    void add_slot();
    /// The slot start() gives a run to: an idle worker, else a busy one that may
    /// hold another run; nullptr if none.
    Slot* slot_for_next_run() const;
    bool may_hold_another(const Slot& slot) const;
    /// True when the worker is to be recycled once it has done `runs` more.
    bool recycled_after(const Slot& slot, std::size_t runs) const;
    void write_runs(Slot& slot);
    /// The front run has begun: tells the scheduler, or kills a withdrawn one.
    void begin_front(Slot& slot);
    void on_outcome(Slot& slot, RunEnded ended);
    void on_exit(const std::shared_ptr<Slot>& slot, pid_t pid, int status);
    /// While a worker is busy, reads the resident memory of each busy one every
    /// memory_check_period; one over memory_limit_mb is killed, its job failing
    /// with memory_limit.
    void watch_memory();
    /// A worker handed a run while idle must read it within take_timeout (once it
    /// is ready); one that has not, while that run is all it holds, is killed, and
    /// the run queued again (not counted).
    void watch_take(Slot& s);
    /// SIGKILLs the worker's process group and its command's.
    static void kill_groups(Slot& slot);
    void spawn(const std::shared_ptr<Slot>& slot);
    void respawn_later(const std::shared_ptr<Slot>& slot, const std::string& why);
    void retire(Slot& slot);
    void remove_slot(const Slot& slot);
    // Coroutines and timers hold the slot: a slot removed by resize may outlive
    // its place in the table until they finish.
    asio::awaitable<void> read_loop(std::shared_ptr<Slot> slot, std::shared_ptr<Channel> channel);

    asio::io_context& io_;
    ChildReaper& reaper_;
    Settings settings_;
    std::string setup_line_;
    sched::RunEvents events_;
    std::vector<std::shared_ptr<Slot>> slots_;
    // The recent run time of each task (a moving average), to tell short runs.
    std::unordered_map<const tasks::Task*, std::chrono::microseconds> typical_run_;
    LogThrottle bad_reports_{std::chrono::seconds(10)};  // lines from workers that do not decode
    int next_index_ = 0;
    std::uint64_t next_handle_ = 1;
    bool shut_down_ = false;
    asio::steady_timer memory_timer_;
    bool watching_memory_ = false;
};

}  // namespace taskpool::daemon::pools
