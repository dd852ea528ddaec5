#include "handlers.hpp"

#include "daemon/events/subscriptions.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {
namespace {

void subscribe(Services& services, proto::SubscribeRequest req, const Reply& reply) {
    if (!req.jobs) {
        if (auto peer = reply.peer(); peer && peer->is_open()) {  // else gone meanwhile
            reply.ok();
            services.events.subscribe_all(peer);
        }
        return;
    }
    // The ids move into the callback; a vector's elements stay where they are.
    auto ids = std::move(*req.jobs);
    std::span<const std::string> wanted(ids);
    services.scheduler.lookup(wanted, [&services, ids = std::move(ids), reply](auto found) {
        if (!found) {
            reply.error(found.error());
            return;
        }
        for (std::size_t i = 0; i < ids.size(); ++i) {
            if ((*found)[i] == nullptr) {
                reply.error({proto::ErrorCode::no_such_job, "no job '" + ids[i] + "'"});
                return;
            }
        }
        reply.ok();
        auto peer = reply.peer();
        if (!peer) {
            return;
        }
        for (const sched::JobRecord* r : *found) {
            if (proto::is_final(r->job.state)) {
                // It will not end again: tell its end now rather than never.
                // Sent for this request, as its reply is: bounded like a reply.
                peer->send(proto::encode_job_event("job.finished", r->job),
                           conn::Peer::Line::reply);
            } else {
                services.events.watch(r->job.id, peer, events::WatchKind::subscription);
            }
        }
    });
}

}  // namespace

void handle(proto::SubscribeRequest req, Call& call) {
    when_heard(call.services,
               [&services = call.services, req = std::move(req), reply = call.reply]() mutable {
                   subscribe(services, std::move(req), reply);
               });
}

void handle(proto::UnsubscribeRequest, Call& call) {
    call.services.events.unsubscribe(*call.peer);
    call.reply.ok();
}

}  // namespace taskpool::daemon::ops
