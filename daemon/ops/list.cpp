#include "handlers.hpp"

#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {

void handle(proto::ListRequest req, Call& call) {
    auto jobs = call.services.scheduler.list(req);
    call.reply.line(proto::encode_ok(call.reply.id(), [&](proto::JsonWriter& w) {
        w.key("jobs").begin_array();
        for (const auto* job : jobs) {
            proto::write_job(w, *job);
        }
        w.end_array();
    }));
}

}  // namespace taskpool::daemon::ops
