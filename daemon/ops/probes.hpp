#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "call.hpp"
#include "daemon/metrics/stats_history.hpp"

namespace taskpool::daemon::ops {

/// GET /healthz: fit to take jobs (not shutting down; the journal, if any, can be
/// written), with a body that says why not.
struct Health {
    bool ok;
    nlohmann::json body;
};
Health health(const Services& services);

/// GET /metrics: the Prometheus text exposition of pools, queues, jobs, latencies,
/// connections, webhooks and the journal; `done` gets it at once, or in cluster
/// mode (where pauses and named queues are the cluster's) once Redis has answered.
void scrape_metrics(const Services& services, std::function<void(std::string)> done);

/// The totals the dashboard's history samples: this daemon's, or the cluster's
/// once Redis has answered (not at all if it could not).
void sample_totals(const Services& services,
                   std::function<void(metrics::StatsHistory::Totals)> done);

}  // namespace taskpool::daemon::ops
