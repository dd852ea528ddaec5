#include "handlers.hpp"

namespace taskpool::daemon::ops {

void handle(proto::PingRequest, Call& call) {
    call.reply.ok({{"pong", true}});
}

}  // namespace taskpool::daemon::ops
