#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::CancelRequest req, Call& call) {
    auto result = call.services.scheduler.cancel(req.job);
    if (result) {
        call.services.scheduler.when_durable(
            [reply = call.reply, job = **result] { reply.job(job); });
    } else {
        call.reply.error(result.error());
    }
}

}  // namespace taskpool::daemon::ops
