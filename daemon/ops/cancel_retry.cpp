#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {
namespace {

/// Answers with the changed job once the change is durable, or with why not.
sched::Scheduler::JobDone reply_when_durable(Call& call) {
    return [&scheduler = call.services.scheduler, reply = call.reply](auto result) {
        if (result) {
            scheduler.when_durable([reply, job = **result] { reply.job(job); });
        } else {
            reply.error(result.error());
        }
    };
}

}  // namespace

void handle(proto::CancelRequest req, Call& call) {
    call.services.scheduler.cancel(req.job, reply_when_durable(call));
}

void handle(proto::RetryRequest req, Call& call) {
    call.services.scheduler.retry(req.job, reply_when_durable(call));
}

}  // namespace taskpool::daemon::ops
