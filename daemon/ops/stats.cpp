#include "handlers.hpp"

#include "daemon/conn/connection_registry.hpp"
#include "daemon/events/webhooks.hpp"
#include "daemon/kv/kv_store.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/pools/remote_pool.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/store/journal.hpp"

namespace taskpool::daemon::ops {
namespace {

nlohmann::json pool_stats(const sched::Scheduler& scheduler, proto::PoolKind pool) {
    const auto* ex = scheduler.executor(pool);
    nlohmann::json stats = {{"size", ex == nullptr ? 0 : ex->size()},
                            {"busy", ex == nullptr ? 0 : ex->busy()},
                            {"queued", scheduler.queued(pool)}};
    if (pool == proto::PoolKind::process) {
        nlohmann::json workers = nlohmann::json::array();
        if (ex != nullptr) {
            for (const auto& w : ex->workers()) {
                workers.push_back(
                    {{"pid", w.pid}, {"state", w.state}, {"jobs", w.jobs}, {"waiting", w.waiting}});
            }
        }
        stats["workers"] = std::move(workers);
    }
    return stats;
}

nlohmann::json remote_stats(const sched::Scheduler& scheduler, const pools::RemotePool& remote) {
    return {{"queued", scheduler.queued(proto::PoolKind::remote)},
            {"busy", remote.busy()},
            {"size", remote.size()},
            {"workers", remote.workers_json()}};
}

}  // namespace

void handle(proto::StatsRequest, Call& call) {
    auto& services = call.services;
    auto& scheduler = services.scheduler;
    auto counts = scheduler.counts();
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
    call.reply.ok({{"uptime_s", std::floor(uptime.count() * 1000) / 1000},
                   {"pools",
                    {{"thread", pool_stats(scheduler, proto::PoolKind::thread)},
                     {"process", pool_stats(scheduler, proto::PoolKind::process)},
                     {"remote", remote_stats(scheduler, services.remote)}}},
                   {"jobs",
                    {{"submitted", counts.submitted},
                     {"queued", counts.queued},
                     {"running", counts.running},
                     {"succeeded", counts.succeeded},
                     {"failed", counts.failed},
                     {"cancelled", counts.cancelled}}},
                   {"connections", services.connections.size()},
                   {"kv", {{"keys", services.kv.size()}, {"bytes", services.kv.bytes()}}},
                   {"callbacks", callbacks},
                   {"store", std::move(store)}});
}

}  // namespace taskpool::daemon::ops
