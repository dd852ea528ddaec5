#include "handlers.hpp"

#include "daemon/events/subscriptions.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::SubmitRequest req, Call& call) {
    auto& services = call.services;
    sched::JobSpec spec{std::move(req.task), std::move(req.args), std::move(req.key), req.options};
    auto accepted = [&services, peer = std::weak_ptr<conn::Peer>(call.peer), options = req.options,
                     reply = call.reply](proto::Result<const proto::Job*> result) {
        if (!result) {
            reply.error(result.error());
            return;
        }
        const proto::Job& job = **result;
        auto p = peer.lock();
        if (!p && options.bind && !proto::is_final(job.state)) {
            // Gone while the journal committed the job: as if it had closed just after.
            (void)services.scheduler.cancel(job.id);
            return;
        }
        if (p && !proto::is_final(job.state)) {
            if (options.notify) {
                services.events.watch(job.id, p, events::WatchKind::notify);
            }
            if (options.bind) {
                services.events.watch(job.id, p, events::WatchKind::bind);
            }
        }
        if (options.wait) {
            services.scheduler.wait(job.id, *options.wait,
                                    [reply](const proto::Job& done) { reply.job(done); });
        } else {
            reply.job(job);
        }
    };
    services.scheduler.submit(std::move(spec), req.options.block_s.value_or(0), accepted);
}

}  // namespace taskpool::daemon::ops
