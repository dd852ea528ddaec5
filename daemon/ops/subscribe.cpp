#include "handlers.hpp"

#include "daemon/events/subscriptions.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::SubscribeRequest req, Call& call) {
    auto& services = call.services;
    if (!req.jobs) {
        call.reply.ok();
        services.events.subscribe_all(call.peer);
        return;
    }
    std::vector<const proto::Job*> jobs;
    for (const auto& id : *req.jobs) {
        const proto::Job* job = services.scheduler.find(id);
        if (job == nullptr) {
            call.reply.error({proto::ErrorCode::no_such_job, "no job '" + id + "'"});
            return;
        }
        jobs.push_back(job);
    }
    call.reply.ok();
    for (const proto::Job* job : jobs) {
        if (proto::is_final(job->state)) {
            // It will not end again: tell its end now rather than never.
            // Sent for this request, as its reply is: bounded like a reply.
            call.peer->send(proto::encode_job_event("job.finished", *job), conn::Peer::Line::reply);
        } else {
            services.events.watch(job->id, call.peer, events::WatchKind::subscription);
        }
    }
}

void handle(proto::UnsubscribeRequest, Call& call) {
    call.services.events.unsubscribe(*call.peer);
    call.reply.ok();
}

}  // namespace taskpool::daemon::ops
