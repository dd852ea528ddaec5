#include "handlers.hpp"

namespace taskpool::daemon::ops {

void handle(proto::CancelRequest req, Call& call) {
    auto result = call.services.scheduler.cancel(req.job);
    if (result) {
        call.reply.job(**result);
    } else {
        call.reply.error(result.error());
    }
}

}  // namespace taskpool::daemon::ops
