#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::GetRequest req, Call& call) {
    auto& scheduler = call.services.scheduler;
    if (scheduler.find(req.job) == nullptr) {
        call.reply.error({proto::ErrorCode::no_such_job, "no job '" + req.job + "'"});
        return;
    }
    scheduler.wait(req.job, req.wait.value_or(0),
                   [reply = call.reply](const proto::Job& done) { reply.job(done); });
}

}  // namespace taskpool::daemon::ops
