#include <spdlog/spdlog.h>

#include "daemon/config/config.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"
#include "daemon/sched/schedules.hpp"

#include "handlers.hpp"

namespace taskpool::daemon::ops {
void handle(proto::ScheduleSetRequest req, Call& call) {
    auto set = call.services.schedules.set(std::move(req.schedule));
    if (!set) {
        call.reply.error(set.error());
        return;
    }
    const auto& spec = set->spec;
    spdlog::info("{}: schedule '{}' set: task {}, {}", call.who(), spec.name, spec.task,
                 spec.cron ? fmt::format("cron '{}'", *spec.cron)
                           : fmt::format("every {} s", *spec.every_s));
    // Answered once it is kept (where the journal keeps it), as queue.set is.
    call.services.scheduler.when_durable(
        [reply = call.reply, schedule = proto::schedule_json(*set)] {
            reply.ok({{"schedule", schedule}});
        });
}

void handle(proto::ScheduleDelRequest req, Call& call) {
    if (auto removed = call.services.schedules.remove(req.name); !removed) {
        call.reply.error(removed.error());
        return;
    }
    spdlog::info("{}: schedule '{}' deleted", call.who(), req.name);
    call.services.scheduler.when_durable([reply = call.reply] { reply.ok(); });
}

void handle(proto::ScheduleListRequest, Call& call) {
    auto schedules = nlohmann::json::array();
    for (const auto& schedule : call.services.schedules.list()) {
        schedules.push_back(proto::schedule_json(schedule));
    }
    call.reply.ok({{"schedules", std::move(schedules)}});
}

}  // namespace taskpool::daemon::ops
