#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/config/config.hpp"
#include "daemon/events/subscriptions.hpp"
#include "daemon/events/webhooks.hpp"
#include "daemon/kv/kv_store.hpp"
#include "daemon/metrics/job_metrics.hpp"
#include "daemon/net/connection_registry.hpp"
#include "daemon/net/peer.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/store/journal.hpp"
#include "daemon/tasks/registry.hpp"
#include "proto/reply.hpp"
#include "proto/request.hpp"

namespace taskpool::daemon::ops {

/// What the op handlers may use. Built once by the app; io thread only.
struct Services {
    const Config& config;
    sched::Scheduler& scheduler;
    const tasks::TaskRegistry& tasks;
    events::Subscriptions& events;
    net::ConnectionRegistry& connections;
    kv::KvStore& kv;
    const events::Webhooks& webhooks;
    const metrics::JobMetrics& job_metrics;
    /// None: memory only (no store.path).
    store::Journal* journal;
    /// Begins the shutdown sequence (after the current handler returns).
    std::function<void(proto::ShutdownMode)> shutdown;
    std::chrono::steady_clock::time_point started_at;
};

/// Answers one request, now or later: copies share one answer, and the first one
/// used answers. Until then the connection counts a pending reply. If the connection has
/// gone, the answer is dropped.
class Reply {
public:
    Reply(const std::shared_ptr<net::Peer>& peer, proto::RequestId id);

    void ok() const;
    void ok(const nlohmann::json& fields) const;
    void job(const proto::Job& job) const;
    void error(const proto::Error& error) const;
    /// Sends a line already built with the request's id (see id()).
    void line(std::string line) const;
    const proto::RequestId& id() const { return state_->id; }
    bool answered() const { return state_->answered; }
    /// The answer, when it comes, keeps this request's place among the replies;
    /// `expected` is its likely size.
    void hold_place(std::size_t expected) const;

private:
    struct State {
        std::weak_ptr<net::Peer> peer;
        proto::RequestId id;
        bool answered = false;
        std::optional<std::uint64_t> place;
        ~State();
    };
    std::shared_ptr<State> state_;
};

/// One request being handled: the services, the connection, its Reply, and the
/// size of the request as it came (a line, or an HTTP target and body).
struct Call {
    Services& services;
    std::shared_ptr<net::Peer> peer;
    Reply reply;
    std::size_t request_bytes = 0;
};

}  // namespace taskpool::daemon::ops
