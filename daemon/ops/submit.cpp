#include "handlers.hpp"

#include "daemon/events/subscriptions.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::SubmitRequest req, Call& call) {
    auto& services = call.services;
    sched::JobSpec spec{std::move(req.task), std::move(req.args), std::move(req.key),
                        req.options,         call.submitter(),    {}};
    // Small enough to be kept inline by the callback: no allocation per submit.
    auto accepted = [&services, reply = call.reply, notify = req.options.notify,
                     bind = req.options.bind,
                     wait = req.options.wait](proto::Result<const proto::Job*> result) {
        if (!result) {
            reply.error(result.error());
            return;
        }
        const proto::Job& job = **result;
        auto p = reply.peer();
        if (!p && bind && !proto::is_final(job.state)) {
            // Gone while the journal committed the job: as if it had closed just after.
            services.scheduler.cancel(job.id, nullptr);
            return;
        }
        if (p && !proto::is_final(job.state)) {
            if (notify) {
                services.events.watch(job.id, p, events::WatchKind::notify);
            }
            if (bind) {
                services.events.watch(job.id, p, events::WatchKind::bind);
            }
        }
        if (wait) {
            services.scheduler.wait(job.id, *wait,
                                    [reply](const proto::Job& done) { reply.job(done); });
        } else {
            reply.job(job);
        }
    };
    static_assert(sizeof(accepted) <= 48, "the submit callback would allocate");
    when_watches_heard(
        services, req.options,
        [&services, spec = std::move(spec), block_s = req.options.block_s.value_or(0),
         accepted = std::move(accepted)]() mutable {
            services.scheduler.submit(std::move(spec), block_s, std::move(accepted));
        });
}

}  // namespace taskpool::daemon::ops
