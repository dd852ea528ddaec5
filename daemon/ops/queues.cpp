#include <spdlog/spdlog.h>

#include "daemon/config/config.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

#include "handlers.hpp"

namespace taskpool::daemon::ops {
namespace {

/// Answers once the change is kept (where the journal keeps it), as kv does.
void reply_when_durable(Call& call, nlohmann::json fields) {
    call.services.scheduler.when_durable(
        [reply = call.reply, fields = std::move(fields)] { reply.ok(fields); });
}

// Cluster mode refuses these ops: limits and pauses would hold on one node only.
template <class Request>
void pause_or_resume(const Request& req, Call& call, bool paused) {
    if (call.refused_in_cluster(Request::op, "queue limits or pauses")) {
        return;
    }
    auto& scheduler = call.services.scheduler;
    const auto& target = req.target;
    if (target.queue) {
        auto queue = scheduler.pause_queue(*target.queue, paused);
        if (!queue) {
            call.reply.error(queue.error());
            return;
        }
        spdlog::info("{}: {} queue '{}'", call.who(), paused ? "paused" : "resumed", *target.queue);
        reply_when_durable(call, {{"queue", proto::queue_json(*queue)}});
        return;
    }
    auto pool = *target.pool;
    if (scheduler.executor(pool) == nullptr) {
        call.reply.error(proto::bad_request("field 'pool': this daemon has no " +
                                            std::string(proto::to_string(pool)) + " pool"));
        return;
    }
    spdlog::info("{}: {} the {} pool", call.who(), paused ? "paused" : "resumed",
                 proto::to_string(pool));
    scheduler.pause_pool(pool, paused);
    reply_when_durable(call, {{"pool", {{"name", proto::to_string(pool)}, {"paused", paused}}}});
}

}  // namespace

void handle(proto::QueueSetRequest req, Call& call) {
    if (call.refused_in_cluster(req.op, "queue limits or pauses")) {
        return;
    }
    auto set = call.services.scheduler.set_queue(req);
    if (!set) {
        call.reply.error(set.error());
        return;
    }
    auto queue = proto::queue_json(*set);
    spdlog::info("{}: queue '{}' now has max_concurrency {} and rate_limit {}", call.who(),
                 req.queue, queue["max_concurrency"].dump(), queue["rate_limit"].dump());
    reply_when_durable(call, {{"queue", std::move(queue)}});
}

void handle(proto::QueueListRequest, Call& call) {
    auto queues = nlohmann::json::array();
    for (const auto& queue : call.services.scheduler.list_queues()) {
        queues.push_back(proto::queue_json(queue));
    }
    call.reply.ok({{"queues", std::move(queues)}});
}

void handle(proto::PauseRequest req, Call& call) {
    pause_or_resume(req, call, true);
}

void handle(proto::ResumeRequest req, Call& call) {
    pause_or_resume(req, call, false);
}

}  // namespace taskpool::daemon::ops
