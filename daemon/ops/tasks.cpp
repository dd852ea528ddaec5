#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/pools/remote_pool.hpp"
#include "daemon/tasks/registry.hpp"

namespace taskpool::daemon::ops {

void handle(proto::TasksRequest, Call& call) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& [name, task] : call.services.tasks.all()) {
        nlohmann::json entry = {{"name", name},
                                {"pool", proto::to_string(task.pool)},
                                {"kind", task.kind},
                                {"description", task.description}};
        if (task.pool == proto::PoolKind::remote) {
            entry["workers"] = call.services.remote.workers_serving(name);
        }
        tasks.push_back(std::move(entry));
    }
    call.reply.ok({{"tasks", std::move(tasks)}});
}

}  // namespace taskpool::daemon::ops
