#include "handlers.hpp"

#include "daemon/config/config.hpp"
#include "daemon/events/subscriptions.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/sched/scheduler.hpp"

namespace taskpool::daemon::ops {
namespace {

/// What a job object adds to its args in a map's reply: id, task, state, pool,
/// batch, times. A floor, not a guess: a map refused by it could never be answered.
constexpr std::size_t job_fields_bytes = 190;

/// The refusal of a map whose reply could not be sent: one reply may be at most
/// twice limits.max_output_buffer_bytes, and the jobs echo their args.
std::optional<proto::Error> reply_too_large(const proto::MapRequest& req, const Call& call) {
    auto bound = 2 * static_cast<std::size_t>(call.services.config.limits.max_output_buffer_bytes);
    auto reply_bytes = call.request_bytes + req.items.size() * (job_fields_bytes + req.task.size());
    if (reply_bytes <= bound) {
        return std::nullopt;
    }
    return proto::Error{proto::ErrorCode::message_too_large,
                        "a map of " + std::to_string(req.items.size()) +
                            " jobs would be answered with over " + std::to_string(reply_bytes) +
                            " bytes, more than a reply may have (" + std::to_string(bound) +
                            ", twice limits.max_output_buffer_bytes); nothing was accepted: "
                            "send the items as several maps (taskpool map and the clients do)"};
}

/// The reply of a map: its batch id and each job, in the order of the items.
std::string encode_map_reply(const proto::RequestId& id, const std::string& batch,
                             const std::vector<const proto::Job*>& jobs) {
    return proto::encode_ok(id, [&](proto::JsonWriter& w) {
        w.field("batch", batch);
        w.key("jobs").begin_array();
        for (const auto* job : jobs) {
            proto::write_job(w, *job);
        }
        w.end_array();
    });
}

/// Answers once every job of the batch has finished, or its wait has run out.
void reply_when_done(Services& services, const Reply& reply, const sched::Batch& batch,
                     double seconds) {
    struct Pending {
        std::string batch;
        std::vector<proto::Job> jobs;
        std::size_t left;
        Reply reply;
    };
    auto pending = std::make_shared<Pending>(
        Pending{batch.id, std::vector<proto::Job>(batch.jobs.size()), batch.jobs.size(), reply});
    for (std::size_t i = 0; i < batch.jobs.size(); ++i) {
        services.scheduler.wait(batch.jobs[i]->id, seconds, [pending, i](const proto::Job& job) {
            pending->jobs[i] = job;
            if (--pending->left > 0) {
                return;
            }
            std::vector<const proto::Job*> jobs;
            for (const auto& j : pending->jobs) {
                jobs.push_back(&j);
            }
            pending->reply.line(encode_map_reply(pending->reply.id(), pending->batch, jobs));
        });
    }
}

}  // namespace

void handle(proto::MapRequest req, Call& call) {
    if (auto refusal = reply_too_large(req, call)) {
        call.reply.error(*refusal);
        return;
    }
    auto& services = call.services;
    sched::MapSpec spec{std::move(req.task), std::move(req.items), req.options, call.submitter()};
    auto accepted = [&services, peer = std::weak_ptr<conn::Peer>(call.peer), options = req.options,
                     reply = call.reply](proto::Result<sched::Batch> result) {
        if (!result) {
            reply.error(result.error());
            return;
        }
        const sched::Batch& batch = *result;
        auto p = peer.lock();
        if (!p && options.bind) {
            // Gone while the journal committed the jobs: as if it had closed just after.
            for (const auto* job : batch.jobs) {
                services.scheduler.cancel(job->id, nullptr);
            }
            return;
        }
        if (p) {
            if (options.notify) {
                services.events.watch_batch(batch.id, p);
            }
            for (const auto* job : batch.jobs) {
                if (options.notify) {
                    services.events.watch(job->id, p, events::WatchKind::notify);
                }
                if (options.bind) {
                    services.events.watch(job->id, p, events::WatchKind::bind);
                }
            }
        }
        if (options.wait) {
            reply_when_done(services, reply, batch, *options.wait);
        } else {
            reply.line(encode_map_reply(reply.id(), batch.id, batch.jobs));
        }
    };
    when_watches_heard(
        services, req.options,
        [&services, spec = std::move(spec), block_s = req.options.block_s.value_or(0),
         accepted = std::move(accepted)]() mutable {
            services.scheduler.submit_map(std::move(spec), block_s, std::move(accepted));
        });
}

}  // namespace taskpool::daemon::ops
