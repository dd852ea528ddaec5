#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::GetRequest req, Call& call) {
    call.services.scheduler.get(req.job, req.wait.value_or(0),
                                [reply = call.reply](proto::Result<const proto::Job*> job) {
                                    job ? reply.job(**job) : reply.error(job.error());
                                });
}

}  // namespace taskpool::daemon::ops
