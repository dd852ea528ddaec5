#include <spdlog/spdlog.h>

#include "daemon/config/config.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/tasks/registry.hpp"

#include "auth.hpp"
#include "handlers.hpp"
#include "proto/version.hpp"

namespace taskpool::daemon::ops {
void handle(proto::HelloRequest req, Call& call) {
    if (call.services.config.auth.token) {
        if (!token_accepted(call.services.config, req.token)) {
            spdlog::warn("connection {}: hello with a wrong or missing token", call.peer->id());
            call.reply.error({proto::ErrorCode::unauthorized, "wrong or missing token"});
            call.peer->close_after_flush();
            return;
        }
        call.peer->authenticated = true;
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
    call.reply.ok({{"server", "taskpoold"},
                   {"version", proto::product_version},
                   {"protocol", proto::protocol_version},
                   {"pools",
                    {{"thread", pool_size(proto::PoolKind::thread)},
                     {"process", pool_size(proto::PoolKind::process)}}},
                   {"tasks", std::move(tasks)}});
}

}  // namespace taskpool::daemon::ops
