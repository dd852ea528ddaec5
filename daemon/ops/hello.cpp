#include <spdlog/spdlog.h>

#include "daemon/auth/scopes.hpp"
#include "daemon/config/config.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/tasks/registry.hpp"

#include "handlers.hpp"
#include "proto/version.hpp"

namespace taskpool::daemon::ops {
void handle(proto::HelloRequest req, Call& call) {
    nlohmann::json who;
    if (call.services.config.auth.required()) {
        // Over HTTP the token came in the Authorization header, checked already.
        auto grant = !req.token && call.peer->grant ? call.peer->grant
                                                    : call.services.config.auth.verify(req.token);
        if (!grant) {
            spdlog::warn("connection {}: hello with a wrong or missing token", call.peer->id());
            call.reply.error({proto::ErrorCode::unauthorized, "wrong or missing token"});
            call.peer->close_after_flush();
            return;
        }
        who = {{"name", *grant->name}, {"scopes", auth::scope_names(grant->scopes)}};
        call.peer->grant = std::move(grant);
    }
    auto& scheduler = call.services.scheduler;
    auto pool_size = [&](proto::PoolKind pool) {
        auto* ex = scheduler.executor(pool);
        return nlohmann::json{{"size", ex == nullptr ? 0 : ex->size()}};
    };
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& [name, task] : call.services.tasks.all()) {
        tasks.push_back(name);
    }
    nlohmann::json reply = {{"server", "taskpoold"},
                            {"version", proto::product_version},
                            {"protocol", proto::protocol_version},
                            {"pools",
                             {{"thread", pool_size(proto::PoolKind::thread)},
                              {"process", pool_size(proto::PoolKind::process)}}},
                            {"tasks", std::move(tasks)}};
    if (!who.is_null()) {
        reply.update(who);  // the token's name and scopes
    }
    call.reply.ok(reply);
}

}  // namespace taskpool::daemon::ops
