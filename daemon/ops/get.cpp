#include "handlers.hpp"

namespace taskpool::daemon::ops {

void handle(proto::GetRequest req, Call& call) {
    auto& scheduler = call.services.scheduler;
    const proto::Job* job = scheduler.find(req.job);
    if (job == nullptr) {
        call.reply.error({proto::ErrorCode::no_such_job, "no job '" + req.job + "'"});
    } else if (req.wait) {
        scheduler.wait(req.job, *req.wait,
                       [reply = call.reply](const proto::Job& done) { reply.job(done); });
    } else {
        call.reply.job(*job);
    }
}

}  // namespace taskpool::daemon::ops
