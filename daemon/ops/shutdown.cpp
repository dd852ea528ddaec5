#include "handlers.hpp"

#include "daemon/ops/services.hpp"

namespace taskpool::daemon::ops {

void handle(proto::ShutdownRequest req, Call& call) {
    call.reply.ok();
    call.services.shutdown(req.mode);
}

}  // namespace taskpool::daemon::ops
