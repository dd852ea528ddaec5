#include <spdlog/spdlog.h>

#include "daemon/config/config.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

#include "handlers.hpp"

namespace taskpool::daemon::ops {

void handle(proto::ResizeRequest req, Call& call) {
    auto& scheduler = call.services.scheduler;
    auto* pool = scheduler.executor(req.pool);
    if (pool == nullptr) {
        call.reply.error(proto::bad_request("field 'pool': this daemon has no " +
                                            std::string(proto::to_string(req.pool)) + " pool"));
        return;
    }
    const auto& config = call.services.config;
    bool threads = req.pool == proto::PoolKind::thread;
    auto max = threads ? config.thread_pool.max_size : config.process_pool.max_size;
    if (req.size > max) {
        call.reply.error(
            proto::bad_request("field 'size' must be at most " + std::to_string(max) + " (" +
                               (threads ? "thread_pool.max_size" : "process_pool.max_size") + ")"));
        return;
    }
    spdlog::info("{}: resizing the {} pool from {} to {}", call.who(), proto::to_string(req.pool),
                 pool->size(), req.size);
    pool->resize(static_cast<std::size_t>(req.size));
    scheduler.capacity_changed();  // new workers take queued jobs
    auto size_of = [&](proto::PoolKind kind) {
        auto* ex = scheduler.executor(kind);
        return nlohmann::json{{"size", ex == nullptr ? 0 : ex->size()}};
    };
    call.reply.ok({{"pools",
                    {{"thread", size_of(proto::PoolKind::thread)},
                     {"process", size_of(proto::PoolKind::process)}}}});
}

}  // namespace taskpool::daemon::ops
