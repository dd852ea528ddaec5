#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/conn/peer.hpp"
#include "daemon/sched/job_observer.hpp"

namespace taskpool::daemon::events {

/// Who hears of a job, and why.
enum class WatchKind {
    notify,        // `submit` with notify: job.started and job.finished
    subscription,  // `subscribe` with job ids: the same, until `unsubscribe`
    bind,          // `submit` with bind: no events; cancelled if the peer goes first
};

/// Fans job.started, job.finished and batch.finished events out to the connections that asked for
/// them (PROTOCOL.md section 6), each connection once per event. Every watch holds
/// its connection (not idle, a PeerHold) until the job ends or the watch is dropped.
/// Thread-safety: io thread only.
class Subscriptions final : public sched::JobObserver {
public:
    void watch(const std::string& job_id, const std::shared_ptr<conn::Peer>& peer, WatchKind kind);
    /// batch.finished of this batch goes to `peer` (a `map` with notify).
    void watch_batch(const std::string& batch, const std::shared_ptr<conn::Peer>& peer);
    void subscribe_all(const std::shared_ptr<conn::Peer>& peer);
    /// Drops the peer's subscriptions (not its notify or bind watches).
    void unsubscribe(conn::Peer& peer);
    /// The connection closed: forgets it and returns the jobs it had bound.
    std::vector<std::string> forget(conn::Peer& peer);

    void job_started(const proto::Job& job) override;
    void job_finished(const proto::Job& job) override;
    void job_progress(const proto::Job& job) override;
    void batch_finished(const std::string& batch, const proto::BatchEnd& end) override;
    void relay(char kind, std::string_view id, const std::string& line) override;

private:
    struct Watch {
        conn::PeerHold peer;
        WatchKind kind;
    };

    /// Sends the line `encode` makes to the job's watchers and every subscriber;
    /// `final`: the job's watches end.
    template <class Encode>
    void publish(const std::string& job_id, bool final, const Encode& encode);
    void publish_batch(const std::string& batch, const std::string& line);
    /// Sends `line` to each recipient and to every subscriber of all jobs, once each.
    void send(std::vector<std::shared_ptr<conn::Peer>> recipients, const std::string& line);

    std::unordered_map<std::string, std::vector<Watch>> by_job_;
    std::unordered_map<std::string, std::vector<conn::PeerHold>> by_batch_;
    std::unordered_map<std::uint64_t, conn::PeerHold> all_jobs_;
};

}  // namespace taskpool::daemon::events
