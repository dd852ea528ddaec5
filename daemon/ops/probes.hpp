#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "call.hpp"

namespace taskpool::daemon::ops {

/// GET /healthz: fit to take jobs (not shutting down; the journal, if any, can be
/// written), with a body that says why not.
struct Health {
    bool ok;
    nlohmann::json body;
};
Health health(const Services& services);

/// GET /metrics: the Prometheus text exposition of pools, queues, jobs, latencies,
/// connections, webhooks and the journal.
std::string metrics_text(const Services& services);

}  // namespace taskpool::daemon::ops
