#include <spdlog/spdlog.h>

#include "daemon/cluster/redis_queues.hpp"
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

/// In cluster mode: the reply once Redis has answered.
cluster::RedisQueues::Done answer(const Call& call) {
    return [reply = call.reply](proto::Result<proto::QueueInfo> queue) {
        queue ? reply.ok({{"queue", proto::queue_json(*queue)}}) : reply.error(queue.error());
    };
}

template <class Request>
void pause_or_resume(const Request& req, Call& call, bool paused) {
    auto& scheduler = call.services.scheduler;
    auto* shared = call.services.cluster_queues;
    const auto& target = req.target;
    if (target.queue) {
        spdlog::info("{}: {} queue '{}'", call.who(), paused ? "pausing" : "resuming",
                     *target.queue);
        if (shared != nullptr) {
            shared->pause(*target.queue, paused, answer(call));
            return;
        }
        auto queue = scheduler.pause_queue(*target.queue, paused);
        if (!queue) {
            call.reply.error(queue.error());
            return;
        }
        reply_when_durable(call, {{"queue", proto::queue_json(*queue)}});
        return;
    }
    auto pool = *target.pool;
    if (scheduler.executor(pool) == nullptr) {
        call.reply.error(proto::bad_request("field 'pool': this daemon has no " +
                                            std::string(proto::to_string(pool)) + " pool"));
        return;
    }
    spdlog::info("{}: {} the {} pool", call.who(), paused ? "pausing" : "resuming",
                 proto::to_string(pool));
    nlohmann::json fields = {{"pool", {{"name", proto::to_string(pool)}, {"paused", paused}}}};
    if (shared != nullptr) {
        shared->pause(pool, paused,
                      [reply = call.reply, fields = std::move(fields)](proto::Result<void> done) {
                          done ? reply.ok(fields) : reply.error(done.error());
                      });
        return;
    }
    scheduler.pause_pool(pool, paused);
    reply_when_durable(call, std::move(fields));
}

}  // namespace

void handle(proto::QueueSetRequest req, Call& call) {
    auto limits = [&req] {
        return fmt::format(
            "max_concurrency {}, rate_limit {}",
            req.max_concurrency
                ? (*req.max_concurrency ? std::to_string(**req.max_concurrency) : "null")
                : "as it was",
            req.rate_limit ? (*req.rate_limit ? proto::to_string(**req.rate_limit) : "null")
                           : "as it was");
    };
    spdlog::info("{}: queue '{}': {}", call.who(), req.queue, limits());
    if (auto* shared = call.services.cluster_queues) {
        shared->set(req, false, answer(call));
        return;
    }
    auto set = call.services.scheduler.set_queue(req);
    if (!set) {
        call.reply.error(set.error());
        return;
    }
    reply_when_durable(call, {{"queue", proto::queue_json(*set)}});
}

void handle(proto::QueueListRequest, Call& call) {
    auto reply = [reply = call.reply](const std::vector<proto::QueueInfo>& list) {
        auto queues = nlohmann::json::array();
        for (const auto& queue : list) {
            queues.push_back(proto::queue_json(queue));
        }
        reply.ok({{"queues", std::move(queues)}});
    };
    if (auto* shared = call.services.cluster_queues) {
        shared->list([reply = std::move(reply), error = call.reply](auto listed) {
            listed ? reply(*listed) : error.error(listed.error());
        });
        return;
    }
    reply(call.services.scheduler.list_queues());
}

void handle(proto::PauseRequest req, Call& call) {
    pause_or_resume(req, call, true);
}

void handle(proto::ResumeRequest req, Call& call) {
    pause_or_resume(req, call, false);
}

}  // namespace taskpool::daemon::ops
