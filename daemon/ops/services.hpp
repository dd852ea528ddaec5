#pragma once

#include <chrono>
#include <functional>
#include <utility>

#include "daemon/base/callback.hpp"
#include "proto/request.hpp"

// Declared, not defined: a handler includes the header of each service it uses,
// and nothing else comes with this one.
namespace taskpool::daemon {
struct Config;
}
namespace taskpool::daemon::conn {
class ConnectionRegistry;
}
namespace taskpool::daemon::events {
class EventLog;
class Subscriptions;
class Webhooks;
}  // namespace taskpool::daemon::events
namespace taskpool::daemon::cluster {
class RedisJobStore;
class RedisKv;
class RedisQueues;
}  // namespace taskpool::daemon::cluster
namespace taskpool::daemon::kv {
class KvStore;
}
namespace taskpool::daemon::metrics {
class JobMetrics;
class StatsHistory;
}  // namespace taskpool::daemon::metrics
namespace taskpool::daemon::pools {
class RemotePool;
}
namespace taskpool::daemon::sched {
class Scheduler;
class Schedules;
}  // namespace taskpool::daemon::sched
namespace taskpool::daemon::store {
class Journal;
}
namespace taskpool::daemon::tasks {
class TaskRegistry;
}

namespace taskpool::daemon::ops {

/// What the op handlers may use. Built once by the app; io thread only.
struct Services {
    const Config& config;
    sched::Scheduler& scheduler;
    sched::Schedules& schedules;
    /// Remote workers add their tasks to it as they register.
    tasks::TaskRegistry& tasks;
    pools::RemotePool& remote;
    events::Subscriptions& events;
    /// The streams of GET /v1/events.
    events::EventLog& event_log;
    conn::ConnectionRegistry& connections;
    kv::KvStore& kv;
    const events::Webhooks& webhooks;
    const metrics::JobMetrics& job_metrics;
    /// None: memory only (no store.path).
    store::Journal* journal;
    /// None: not in cluster mode (no cluster.redis). In cluster mode, kv.* go to
    /// cluster_kv and `kv` is unused, and queue limits and pauses to cluster_queues.
    cluster::RedisJobStore* cluster;
    cluster::RedisKv* cluster_kv;
    cluster::RedisQueues* cluster_queues;
    /// Begins the shutdown sequence (after the current handler returns).
    std::function<void(proto::ShutdownMode)> shutdown;
    std::chrono::steady_clock::time_point started_at;
    /// What `stats` with `history` answers; set once the daemon samples it.
    const metrics::StatsHistory* history = nullptr;
};

/// Runs `then` once this node hears every node's job events (cluster mode, where
/// the nodes publish them only where one does; at once otherwise): before a
/// subscription, watch or event stream begins here.
void when_heard(const Services& services, base::Callback<void()> then);

/// Runs `go` at once for a submit or map that watches none of its jobs here, and
/// as when_heard() for one whose `notify` or `bind` does.
template <class Options, class Go>
void when_watches_heard(const Services& services, const Options& options, Go&& go) {
    if (options.notify || options.bind) {
        when_heard(services, std::forward<Go>(go));
    } else {
        go();
    }
}

}  // namespace taskpool::daemon::ops
