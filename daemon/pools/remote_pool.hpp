#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "daemon/conn/peer.hpp"
#include "daemon/sched/executor.hpp"
#include "daemon/sched/job_id.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::pools {

/// Remote workers (PROTOCOL.md section 10): connections that registered to run
/// jobs of some tasks, in any language, on any host. The scheduler hands this pool
/// runs of the tasks some worker has room for; each goes to the worker serving
/// its task with the most free slots, pushed as `job.assign`, and begins there
/// at once. The worker's reports (`job.done`, `job.fail`, `job.progress`) end it.
///
/// A run cancelled or timed out has ended for the scheduler; the worker is told
/// (`job.cancel`), and the slot stays taken until it reports on that job or
/// `workers.cancel_grace_s` passes, when the worker is cut off. A worker whose
/// connection closes, or that is silent for three heartbeats, is lost: its runs
/// end with `worker_lost`, and run again where they have retries left. One timer
/// watches every worker and every grace.
///
/// Thread-safety: io thread only.
class RemotePool final : public sched::Executor {
public:
    using Clock = std::chrono::steady_clock;
    struct Settings {
        Clock::duration heartbeat = std::chrono::seconds(5);
        Clock::duration cancel_grace = std::chrono::seconds(10);
    };
    /// A worker's registration, as the op read it.
    struct Registration {
        std::vector<std::string> tasks;
        int capacity = 1;
        std::string name;
        std::string addr;
    };

    RemotePool(asio::io_context& io, Settings settings, sched::RunEvents events);
    RemotePool(const RemotePool&) = delete;
    RemotePool& operator=(const RemotePool&) = delete;

    /// The connection becomes a worker; returns its id ("w-...").
    std::string register_worker(const std::shared_ptr<conn::Peer>& peer, Registration r);
    bool is_worker(std::uint64_t peer_id) const { return workers_.contains(peer_id); }
    /// The worker is given no more jobs (it is about to stop); not_assigned if
    /// the connection is no worker.
    proto::Result<void> quiet(std::uint64_t peer_id);
    /// Anything a worker sends shows it is alive.
    void heard_from(std::uint64_t peer_id);
    /// A worker's reports on a job: ok, or not_assigned (the job is not one it
    /// holds, or it was told to stop it). `job.done` and `job.fail` free the slot.
    proto::Result<void> finish(std::uint64_t peer_id, std::string_view job,
                               tasks::TaskOutcome outcome);
    proto::Result<void> progress(std::uint64_t peer_id, std::string_view job,
                                 proto::RawJson progress);
    /// The connection closed: its worker, if it was one, is lost (after the
    /// current handler: a connection can close inside a send, even one of ours).
    void connection_closed(std::uint64_t peer_id);

    /// How many workers serve `task` now.
    std::size_t workers_serving(std::string_view task) const;
    std::chrono::duration<double> heartbeat() const { return settings_.heartbeat; }
    /// Each worker as `stats` shows it: {id, name, addr, tasks, capacity, busy,
    /// done, connected_at}.
    nlohmann::json workers_json() const;

    std::size_t size() const override;
    std::size_t busy() const override;
    bool can_take() const override;
    std::optional<std::vector<std::string_view>> tasks_with_room() const override;
    std::uint64_t start(sched::Run run) override;
    bool stop(std::uint64_t handle, sched::StopReason reason) override;
    std::vector<sched::WorkerStatus> workers() const override;
    /// Remote workers come and go by themselves: nothing to resize.
    void resize(std::size_t /*size*/) override {}
    void shutdown() override;

private:
    struct Worker {
        std::string id;
        Registration registration;
        std::weak_ptr<conn::Peer> peer;
        proto::Shared<proto::WorkerInfo> info;  // what each of its jobs tells
        proto::Timestamp connected_at;
        Clock::time_point last_heard;
        std::uint64_t last_assigned = 0;  // when it was last given a run: spreads the load
        std::uint64_t done = 0;
        bool quiet = false;                                   // takes no more jobs
        std::unordered_map<std::string, std::uint64_t> held;  // job id -> handle
        // Runs it was told to stop, whose slots it keeps until it reports on them;
        // apart from `held`, since a job retried onto the same worker is in both.
        std::unordered_multimap<std::string, std::uint64_t> stopping;
        std::size_t slots_taken() const { return held.size() + stopping.size(); }
    };
    struct Held {
        std::uint64_t seq = 0;
        int attempt = 0;
        std::uint64_t peer_id = 0;
        /// Told to stop (cancelled, timed out): the attempt has ended for the
        /// scheduler; the worker has until then to say so.
        std::optional<Clock::time_point> stop_deadline;
        std::string job;
    };

    bool has_room(const Worker& w) const {
        auto peer = w.peer.lock();
        return !w.quiet && peer && !peer->closing() &&
               static_cast<int>(w.slots_taken()) < w.registration.capacity;
    }
    Worker* worker_of(std::uint64_t peer_id);
    proto::Error not_assigned(std::string_view job, bool stopped) const;
    /// Ends every run the worker holds with worker_lost, and forgets it.
    void lose(std::uint64_t peer_id, const std::string& why);
    /// Arms the one timer for the earliest heartbeat or grace that can run out.
    void arm_timer();
    void check_deadlines();

    asio::io_context& io_;
    Settings settings_;
    sched::RunEvents events_;
    std::map<std::uint64_t, Worker> workers_;       // by connection id
    std::unordered_map<std::uint64_t, Held> runs_;  // by handle
    asio::steady_timer timer_;
    std::optional<Clock::time_point> timer_due_;
    sched::IdGenerator ids_;
    std::uint64_t next_handle_ = 1;
    std::uint64_t assignments_ = 0;
};

}  // namespace taskpool::daemon::pools
