#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/tasks/registry.hpp"

namespace taskpool::daemon::ops {

void handle(proto::TasksRequest, Call& call) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& [name, task] : call.services.tasks.all()) {
        tasks.push_back({{"name", name},
                         {"pool", proto::to_string(task.pool)},
                         {"kind", task.kind},
                         {"description", task.description}});
    }
    call.reply.ok({{"tasks", std::move(tasks)}});
}

}  // namespace taskpool::daemon::ops
