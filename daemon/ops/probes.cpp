#include "probes.hpp"

#include "daemon/cluster/redis_job_store.hpp"
#include "daemon/cluster/redis_queues.hpp"
#include "daemon/conn/connection_registry.hpp"
#include "daemon/events/webhooks.hpp"
#include "daemon/kv/kv_store.hpp"
#include "daemon/metrics/job_metrics.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/pools/remote_pool.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/sched/schedules.hpp"
#include "daemon/store/journal.hpp"

#include "daemon/metrics/prometheus_text.hpp"
#include "proto/version.hpp"

namespace taskpool::daemon::ops {
namespace {

constexpr std::array pools = {proto::PoolKind::thread, proto::PoolKind::process,
                              proto::PoolKind::remote};

/// Pauses and named queues: this daemon's, or in cluster mode the cluster's.
struct QueueState {
    std::array<bool, proto::pool_count> paused{};
    std::vector<proto::QueueInfo> queues;
};

void pool_metrics(metrics::PrometheusText& out, const sched::Scheduler& scheduler,
                  const QueueState& state) {
    auto gauge = [&](std::string_view name, std::string_view help, auto value_of) {
        out.family(name, "gauge", help);
        for (auto pool : pools) {
            const auto* ex = scheduler.executor(pool);
            out.sample(name, {{"pool", proto::to_string(pool)}},
                       static_cast<double>(ex == nullptr ? 0 : value_of(*ex)));
        }
    };
    gauge("taskpool_pool_size", "Threads or worker processes in the pool.",
          [](const sched::Executor& ex) { return ex.size(); });
    gauge("taskpool_pool_busy", "Threads or worker processes running a job.",
          [](const sched::Executor& ex) { return ex.busy(); });
    out.family("taskpool_queue_depth", "gauge", "Jobs waiting for the pool.");
    for (auto pool : pools) {
        out.sample("taskpool_queue_depth", {{"pool", proto::to_string(pool)}},
                   static_cast<double>(scheduler.queued(pool)));
    }
    out.family("taskpool_pool_paused", "gauge", "1 while the pool is paused.");
    for (auto pool : pools) {
        out.sample("taskpool_pool_paused", {{"pool", proto::to_string(pool)}},
                   state.paused[static_cast<std::size_t>(pool)] ? 1 : 0);
    }
}

/// The named queues (PROTOCOL.md 12), one sample of each family per queue.
void queue_metrics(metrics::PrometheusText& out, const std::vector<proto::QueueInfo>& queues) {
    out.family("taskpool_queue_jobs", "gauge", "Jobs of a named queue queued or running now.");
    for (const auto& q : queues) {
        out.sample("taskpool_queue_jobs", {{"queue", q.name}, {"state", "queued"}},
                   static_cast<double>(q.queued));
        out.sample("taskpool_queue_jobs", {{"queue", q.name}, {"state", "running"}},
                   static_cast<double>(q.running));
    }
    out.family("taskpool_queue_throttled", "gauge",
               "1 while a named queue has queued jobs its limits hold back.");
    for (const auto& q : queues) {
        out.sample("taskpool_queue_throttled", {{"queue", q.name}}, q.throttled ? 1 : 0);
    }
    out.family("taskpool_queue_paused", "gauge", "1 while a named queue is paused.");
    for (const auto& q : queues) {
        out.sample("taskpool_queue_paused", {{"queue", q.name}}, q.paused ? 1 : 0);
    }
}

/// Recurring schedules (PROTOCOL.md 13): how each has fired since start.
void schedule_metrics(metrics::PrometheusText& out, const sched::Schedules& schedules) {
    auto firings = schedules.firings();
    out.family("taskpool_schedule_firings_total", "counter",
               "Firings of a schedule since start, by outcome: its job submitted or refused.");
    for (const auto& f : firings) {
        out.sample("taskpool_schedule_firings_total",
                   {{"schedule", f.name}, {"outcome", "submitted"}},
                   static_cast<double>(f.submitted));
        out.sample("taskpool_schedule_firings_total",
                   {{"schedule", f.name}, {"outcome", "refused"}}, static_cast<double>(f.refused));
    }
    out.family("taskpool_schedule_lateness_seconds", "gauge",
               "How long after its time a schedule last fired.");
    for (const auto& f : firings) {
        out.sample("taskpool_schedule_lateness_seconds", {{"schedule", f.name}}, f.last_lateness_s);
    }
}

void job_metrics(metrics::PrometheusText& out, const Services& services) {
    auto counts = services.scheduler.counts();
    out.family("taskpool_jobs", "gauge", "Jobs scheduled, waiting, queued or running now.");
    out.sample("taskpool_jobs", {{"state", "scheduled"}}, static_cast<double>(counts.scheduled));
    out.sample("taskpool_jobs", {{"state", "waiting"}}, static_cast<double>(counts.waiting));
    out.sample("taskpool_jobs", {{"state", "queued"}}, static_cast<double>(counts.queued));
    out.sample("taskpool_jobs", {{"state", "running"}}, static_cast<double>(counts.running));
    out.family("taskpool_jobs_submitted_total", "counter", "Jobs accepted since start.");
    out.sample("taskpool_jobs_submitted_total", {}, static_cast<double>(counts.submitted));

    constexpr std::array end_states = {proto::JobState::succeeded, proto::JobState::failed,
                                       proto::JobState::cancelled};
    out.family("taskpool_jobs_finished_total", "counter", "Jobs finished since start.");
    for (const auto& [task, ended] : services.job_metrics.ended()) {
        for (std::size_t i = 0; i < end_states.size(); ++i) {
            out.sample("taskpool_jobs_finished_total",
                       {{"task", task}, {"state", proto::to_string(end_states[i])}},
                       static_cast<double>(ended[i]));
        }
    }
    out.family("taskpool_job_wait_seconds", "histogram", "From submit to start of each attempt.");
    for (auto pool : pools) {
        out.histogram("taskpool_job_wait_seconds", {{"pool", proto::to_string(pool)}},
                      services.job_metrics.waited(pool));
    }
    out.family("taskpool_job_run_seconds", "histogram", "From start to end of each attempt.");
    for (auto pool : pools) {
        out.histogram("taskpool_job_run_seconds", {{"pool", proto::to_string(pool)}},
                      services.job_metrics.ran(pool));
    }
}

void worker_metrics(metrics::PrometheusText& out, const pools::RemotePool& remote) {
    auto workers = remote.workers_json();
    out.family("taskpool_remote_workers", "gauge", "Remote workers connected now.");
    out.sample("taskpool_remote_workers", {}, static_cast<double>(workers.size()));
    auto each = [&](std::string_view name, std::string_view type, std::string_view help,
                    const char* field) {
        out.family(name, type, help);
        for (const auto& w : workers) {
            out.sample(
                name,
                {{"worker", w["id"].get<std::string>()}, {"name", w["name"].get<std::string>()}},
                w[field].get<double>());
        }
    };
    each("taskpool_remote_worker_capacity", "gauge", "Jobs a remote worker takes at once.",
         "capacity");
    each("taskpool_remote_worker_busy", "gauge", "Jobs a remote worker holds now.", "busy");
    each("taskpool_remote_worker_jobs_total", "counter",
         "Jobs a remote worker has reported on since it registered.", "done");
}

void service_metrics(metrics::PrometheusText& out, const Services& services) {
    out.family("taskpool_connections", "gauge", "Client connections open now.");
    out.sample("taskpool_connections", {}, static_cast<double>(services.connections.size()));
    out.family("taskpool_connections_accepted_total", "counter", "Client connections accepted.");
    out.sample("taskpool_connections_accepted_total", {},
               static_cast<double>(services.connections.accepted()));

    auto hooks = services.webhooks.counts();
    out.family("taskpool_webhook_deliveries_total", "counter",
               "Webhook deliveries by outcome: delivered (2xx) or failed (attempts ran out).");
    out.sample("taskpool_webhook_deliveries_total", {{"outcome", "delivered"}},
               static_cast<double>(hooks.delivered));
    out.sample("taskpool_webhook_deliveries_total", {{"outcome", "failed"}},
               static_cast<double>(hooks.failed));
    out.family("taskpool_webhook_retries_total", "counter", "Webhook attempts after the first.");
    out.sample("taskpool_webhook_retries_total", {}, static_cast<double>(hooks.retries));
    out.family("taskpool_webhook_pending", "gauge", "Webhook deliveries not yet done.");
    out.sample("taskpool_webhook_pending", {}, static_cast<double>(hooks.pending));

    out.family("taskpool_kv_keys", "gauge", "Keys in the shared key-value state.");
    out.sample("taskpool_kv_keys", {}, static_cast<double>(services.kv.size()));

    if (services.journal != nullptr) {
        auto health = services.journal->health();
        out.family("taskpool_journal_writable", "gauge", "1 while the journal can be written.");
        out.sample("taskpool_journal_writable", {}, health.writable ? 1 : 0);
        out.family("taskpool_journal_commits_total", "counter", "Journal transactions committed.");
        out.sample("taskpool_journal_commits_total", {}, static_cast<double>(health.commits));
    }
}

std::string metrics_text(const Services& services, const QueueState& state) {
    metrics::PrometheusText out;
    out.family("taskpool_build_info", "gauge", "The daemon's version.");
    out.sample("taskpool_build_info", {{"version", proto::product_version}}, 1);
    auto uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - services.started_at);
    out.family("taskpool_uptime_seconds", "gauge", "Seconds since the daemon started.");
    out.sample("taskpool_uptime_seconds", {}, std::floor(uptime.count()));
    pool_metrics(out, services.scheduler, state);
    queue_metrics(out, state.queues);
    schedule_metrics(out, services.schedules);
    job_metrics(out, services);
    service_metrics(out, services);
    worker_metrics(out, services.remote);
    return out.take();
}

}  // namespace

Health health(const Services& services) {
    if (!services.scheduler.accepting()) {
        return {false, {{"status", "shutting_down"}}};
    }
    if (services.cluster != nullptr && !services.cluster->up()) {
        return {false, {{"status", "unavailable"}, {"error", "Redis cannot be reached"}}};
    }
    if (services.journal != nullptr) {
        auto journal = services.journal->health();
        if (!journal.writable) {
            return {false, {{"status", "unavailable"}, {"error", "journal: " + journal.error}}};
        }
    }
    return {true, {{"status", "ok"}}};
}

void scrape_metrics(const Services& services, std::function<void(std::string)> done) {
    auto* shared = services.cluster_queues;
    if (shared == nullptr) {
        QueueState state;
        for (auto pool : pools) {
            state.paused[static_cast<std::size_t>(pool)] = services.scheduler.paused(pool);
        }
        state.queues = services.scheduler.list_queues();
        done(metrics_text(services, state));
        return;
    }
    shared->list([&services, done = std::move(done)](auto listed) mutable {
        QueueState state;
        if (listed) {
            state.queues = std::move(*listed);
        }
        services.cluster->counts(
            [&services, done = std::move(done), state = std::move(state)](auto counted) mutable {
                if (counted) {
                    state.paused = counted->paused;
                }
                done(metrics_text(services, state));
            });
    });
}

}  // namespace taskpool::daemon::ops
