#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::ListRequest req, Call& call) {
    call.services.scheduler.list(req, [reply = call.reply](auto jobs) {
        if (!jobs) {
            reply.error(jobs.error());
            return;
        }
        reply.line(proto::encode_ok(reply.id(), [&](proto::JsonWriter& w) {
            w.key("jobs").begin_array();
            for (const auto* job : *jobs) {
                proto::write_job(w, *job);
            }
            w.end_array();
        }));
    });
}

}  // namespace taskpool::daemon::ops
