#include "handlers.hpp"
#include "probes.hpp"

#include "daemon/cluster/redis_job_store.hpp"
#include "daemon/conn/connection_registry.hpp"
#include "daemon/events/webhooks.hpp"
#include "daemon/kv/kv_store.hpp"
#include "daemon/metrics/stats_history.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/pools/remote_pool.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/store/journal.hpp"

namespace taskpool::daemon::ops {
namespace {

using Queued = std::array<std::size_t, proto::pool_count>;

nlohmann::json pool_stats(const sched::Scheduler& scheduler, proto::PoolKind pool,
                          const Queued& queued) {
    const auto* ex = scheduler.executor(pool);
    nlohmann::json stats = {{"size", ex == nullptr ? 0 : ex->size()},
                            {"busy", ex == nullptr ? 0 : ex->busy()},
                            {"queued", queued[static_cast<std::size_t>(pool)]},
                            {"paused", scheduler.paused(pool)}};
    if (pool == proto::PoolKind::process) {
        nlohmann::json workers = nlohmann::json::array();
        if (ex != nullptr) {
            for (const auto& w : ex->workers()) {
                workers.push_back({{"pid", w.pid},
                                   {"state", w.state},
                                   {"jobs", w.jobs},
                                   {"waiting", w.waiting},
                                   {"memory_bytes", w.memory_bytes}});
            }
        }
        stats["workers"] = std::move(workers);
    }
    return stats;
}

nlohmann::json remote_stats(const sched::Scheduler& scheduler, const pools::RemotePool& remote,
                            const Queued& queued) {
    return {{"queued", queued[static_cast<std::size_t>(proto::PoolKind::remote)]},
            {"busy", remote.busy()},
            {"size", remote.size()},
            {"paused", scheduler.paused(proto::PoolKind::remote)},
            {"workers", remote.workers_json()}};
}

/// `stats`, with the jobs' counts and queue depths: this daemon's, or in cluster
/// mode the cluster's.
nlohmann::json stats(const Services& services, const sched::JobCounts& counts,
                     const Queued& queued) {
    auto& scheduler = services.scheduler;
    auto hooks = services.webhooks.counts();
    nlohmann::json callbacks = {{"delivered", hooks.delivered},
                                {"failed", hooks.failed},
                                {"retries", hooks.retries},
                                {"pending", hooks.pending}};
    nlohmann::json store = nullptr;
    if (services.journal != nullptr) {
        auto health = services.journal->health();
        store = {{"path", services.journal->path()},
                 {"writable", health.writable},
                 {"commits", health.commits},
                 {"writes", health.writes}};
        if (!health.writable) {
            store["error"] = health.error;
        }
    }
    auto uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - services.started_at);
    return {{"uptime_s", std::floor(uptime.count() * 1000) / 1000},
            {"pools",
             {{"thread", pool_stats(scheduler, proto::PoolKind::thread, queued)},
              {"process", pool_stats(scheduler, proto::PoolKind::process, queued)},
              {"remote", remote_stats(scheduler, services.remote, queued)}}},
            {"jobs",
             {{"submitted", counts.submitted},
              {"scheduled", counts.scheduled},
              {"waiting", counts.waiting},
              {"queued", counts.queued},
              {"running", counts.running},
              {"succeeded", counts.succeeded},
              {"failed", counts.failed},
              {"cancelled", counts.cancelled}}},
            {"connections", services.connections.size()},
            {"kv", {{"keys", services.kv.size()}, {"bytes", services.kv.bytes()}}},
            {"callbacks", callbacks},
            {"store", std::move(store)}};
}

nlohmann::json cluster_stats(const cluster::RedisJobStore& store,
                             const cluster::ClusterCounts& counts) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : counts.nodes) {
        auto its_pools = nlohmann::json::parse(n.pools, nullptr, false);
        nodes.push_back(
            {{"id", n.id},
             {"addr", n.addr},
             {"started_at", proto::format_timestamp(n.started_at)},
             {"last_seen", proto::format_timestamp(n.last_seen)},
             {"pools", its_pools.is_discarded() ? nlohmann::json::object() : its_pools}});
    }
    return {{"name", store.name()}, {"node", store.node()}, {"nodes", std::move(nodes)}};
}

/// The cluster's counts as this daemon's are kept.
sched::JobCounts job_counts(const cluster::ClusterCounts& c, Queued& queued) {
    sched::JobCounts counts{.submitted = c.submitted,
                            .scheduled = c.scheduled,
                            .waiting = c.waiting,
                            .running = c.running,
                            .succeeded = c.succeeded,
                            .failed = c.failed,
                            .cancelled = c.cancelled};
    for (std::size_t i = 0; i < proto::pool_count; ++i) {
        queued[i] = c.queued[i];
        counts.queued += c.queued[i];
    }
    return counts;
}

metrics::StatsHistory::Totals totals(const sched::JobCounts& c) {
    return {c.succeeded + c.failed + c.cancelled, c.queued};
}

}  // namespace

void handle(proto::StatsRequest req, Call& call) {
    auto& services = call.services;
    auto with_history = [history =
                             req.history ? services.history : nullptr](nlohmann::json fields) {
        if (history != nullptr) {
            fields["history"] = history->json();
        }
        return fields;
    };
    if (services.cluster == nullptr) {
        Queued queued{};
        for (auto pool :
             {proto::PoolKind::thread, proto::PoolKind::process, proto::PoolKind::remote}) {
            queued[static_cast<std::size_t>(pool)] = services.scheduler.queued(pool);
        }
        call.reply.ok(with_history(stats(services, services.scheduler.counts(), queued)));
        return;
    }
    services.cluster->counts([&services, reply = call.reply, with_history](auto counted) {
        if (!counted) {
            reply.error(counted.error());
            return;
        }
        const auto& c = *counted;
        Queued queued{};
        auto fields = stats(services, job_counts(c, queued), queued);
        for (auto pool :
             {proto::PoolKind::thread, proto::PoolKind::process, proto::PoolKind::remote}) {
            fields["pools"][proto::to_string(pool)]["paused"] =
                c.paused[static_cast<std::size_t>(pool)];
        }
        fields["kv"] = {{"keys", c.kv_keys}, {"bytes", c.kv_bytes}};
        fields["cluster"] = cluster_stats(*services.cluster, c);
        reply.ok(with_history(std::move(fields)));
    });
}

void sample_totals(const Services& services,
                   std::function<void(metrics::StatsHistory::Totals)> done) {
    if (services.cluster == nullptr) {
        done(totals(services.scheduler.counts()));
        return;
    }
    services.cluster->counts([done = std::move(done)](auto counted) {
        if (counted) {
            Queued queued{};
            done(totals(job_counts(*counted, queued)));
        }
    });
}

}  // namespace taskpool::daemon::ops
