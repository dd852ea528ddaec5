#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "daemon/conn/peer.hpp"
#include "daemon/sched/job_observer.hpp"
#include "proto/event_filter.hpp"

namespace taskpool::daemon::events {

/// The event streams of `GET /v1/events` (PROTOCOL.md section 8): job.started,
/// job.progress, job.finished and batch.finished, numbered in the order this
/// daemon hears them, sent as Server-Sent Events to each stream whose filter they
/// match. From the first stream on, the latest `max_kept` events are kept (at most
/// `max_kept_bytes` of them), so that a stream that comes back with Last-Event-ID
/// gets what it missed within that window. A stream is a subscriber: one that does not read is cut
/// at the output bound. Every `keepalive` each stream gets a comment, so that a stream no event
/// matches still shows a lost client. Thread-safety: io thread only.
class EventLog final : public sched::JobObserver {
public:
    static constexpr std::size_t max_kept = 10000;
    static constexpr std::size_t max_kept_bytes = std::size_t{16} << 20;
    static constexpr std::chrono::seconds keepalive{15};

    explicit EventLog(asio::io_context& io);

    /// `peer` gets from now on the events `filter` matches, after those kept that
    /// came after `last_event_id` (an id of this daemon's; another's, or one from
    /// before a restart, gets every event kept).
    void open(const std::shared_ptr<conn::Peer>& peer, proto::EventFilter filter,
              const std::optional<std::string>& last_event_id);
    /// The connection closed.
    void forget(conn::Peer& peer);

    void job_started(const proto::Job& job) override;
    void job_finished(const proto::Job& job) override;
    void job_progress(const proto::Job& job) override;
    void batch_finished(const std::string& batch, const proto::BatchEnd& end) override;
    void relay(char kind, std::string_view id, const std::string& line) override;

private:
    struct Event {
        std::uint64_t seq = 0;
        std::string_view name;
        std::string job;  // the job's id, or the batch's
        std::string task;
        std::string queue;
        std::optional<proto::JobState> state;  // none: a batch's
        std::string data;                      // its JSON, one line
    };
    struct Stream {
        conn::PeerHold peer;
        proto::EventFilter filter;
    };

    void add(Event e);
    /// The streams `wants`, to send to.
    template <class Wants>
    std::vector<std::shared_ptr<conn::Peer>> peers(const Wants& wants) const;
    static bool matches(const proto::EventFilter& filter, const Event& e);
    std::string frame(const Event& e) const;
    void arm_keepalive();

    asio::steady_timer keepalive_timer_;
    std::string epoch_;  // ids are "<epoch>.<seq>": this run's, apart from a restart's
    std::uint64_t next_seq_ = 1;
    bool keeping_ = false;  // from the first stream on
    std::deque<Event> kept_;
    std::size_t kept_bytes_ = 0;  // of their data
    std::vector<Stream> streams_;
    /// The task and queue of each running job, for its progress events.
    struct Running {
        std::string task, queue;
    };
    std::unordered_map<std::string, Running> running_;
};

}  // namespace taskpool::daemon::events
