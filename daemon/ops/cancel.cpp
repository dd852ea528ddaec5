#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::CancelRequest req, Call& call) {
    auto& scheduler = call.services.scheduler;
    scheduler.cancel(req.job, [&scheduler, reply = call.reply](auto result) {
        if (result) {
            scheduler.when_durable([reply, job = **result] { reply.job(job); });
        } else {
            reply.error(result.error());
        }
    });
}

}  // namespace taskpool::daemon::ops
