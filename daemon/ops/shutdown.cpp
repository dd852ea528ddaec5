#include "handlers.hpp"

#include <spdlog/spdlog.h>

#include "daemon/ops/services.hpp"

namespace taskpool::daemon::ops {

void handle(proto::ShutdownRequest req, Call& call) {
    spdlog::info("{}: shutdown ({})", call.who(),
                 req.mode == proto::ShutdownMode::now ? "now" : "drain");
    call.reply.ok();
    call.services.shutdown(req.mode);
}

}  // namespace taskpool::daemon::ops
