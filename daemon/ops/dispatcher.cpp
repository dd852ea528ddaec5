#include "dispatcher.hpp"

#include <spdlog/spdlog.h>

#include "daemon/auth/scopes.hpp"
#include "daemon/config/config.hpp"
#include "daemon/events/event_log.hpp"
#include "daemon/events/subscriptions.hpp"
#include "daemon/pools/remote_pool.hpp"
#include "daemon/sched/scheduler.hpp"
#include "handlers.hpp"
#include "services.hpp"

namespace taskpool::daemon::ops {
namespace {

/// Whether an op's reply can be far longer than its request: a job with its
/// result, a list, a kv value.
bool reply_of_unknown_size(const proto::RequestBody& body) {
    return std::holds_alternative<proto::ListRequest>(body) ||
           std::holds_alternative<proto::GetRequest>(body) ||
           std::holds_alternative<proto::CancelRequest>(body) ||
           std::holds_alternative<proto::RetryRequest>(body) ||
           std::holds_alternative<proto::KvGetRequest>(body) ||
           std::holds_alternative<proto::KvDelRequest>(body) ||
           std::holds_alternative<proto::StatsRequest>(body);
}

/// What a reply answered later is expected to weigh, counted as output until it
/// comes (Peer::hold_place), so that the connection stops reading before the
/// replies it has let in outgrow the bound. Most are about as long as their
/// request (a submit's job echoes its args) and a job's fields. One of unknown
/// size (read from Redis in cluster mode) counts a share of the bound, so that
/// few are in flight at once.
std::size_t expected_reply(const proto::RequestBody& body, std::size_t request_size,
                           const Config::Limits& limits) {
    constexpr std::size_t job_fields = 512;
    if (reply_of_unknown_size(body)) {
        return static_cast<std::size_t>(limits.max_output_buffer_bytes) /
               conn::Peer::max_unknown_replies;
    }
    return request_size + job_fields;
}

/// A request that waits is answered when it is ready, out of order (PROTOCOL.md
/// section 2); every other one in the order it came.
bool waits(const proto::RequestBody& body) {
    if (const auto* submit = std::get_if<proto::SubmitRequest>(&body)) {
        return submit->options.wait || submit->options.block_s;
    }
    if (const auto* map = std::get_if<proto::MapRequest>(&body)) {
        return map->options.wait || map->options.block_s;
    }
    if (const auto* get = std::get_if<proto::GetRequest>(&body)) {
        return get->wait.has_value();
    }
    return false;
}

std::string_view request_name(const proto::RequestBody& body) {
    return std::visit([](const auto& req) { return std::decay_t<decltype(req)>::op; }, body);
}

}  // namespace

void Dispatcher::handle_line(const std::shared_ptr<conn::Peer>& peer, std::string_view line) {
    dispatch(peer, proto::decode_request_line(line), line.size());
}

bool Dispatcher::requires_token() const {
    return services_.config.auth.required();
}

void Dispatcher::dispatch(const std::shared_ptr<conn::Peer>& peer, proto::DecodedRequest decoded,
                          std::size_t size) {
    Call call{services_, peer, Reply(peer, decoded.id), size};
    if (peer->worker) {
        services_.remote.heard_from(peer->id());  // any line will do as a heartbeat
    }
    if (!decoded.body) {
        call.reply.error(decoded.body.error());
        return;
    }
    auto& body = decoded.body.value();
    if (requires_token() && !peer->authenticated() &&
        !std::holds_alternative<proto::HelloRequest>(body)) {
        call.reply.error({proto::ErrorCode::unauthorized,
                          "this daemon requires a token: send hello with it first"});
        peer->close_after_flush();
        return;
    }
    if (peer->grant) {
        auto need = auth::scope_needed(body);
        if (need && !auth::allows(peer->grant->scopes, *need)) {
            call.reply.error(auth::forbidden(*peer->grant, request_name(body), *need));
            return;
        }
    }
    bool in_order = !waits(body);
    try {
        std::visit([&](auto& req) { handle(std::move(req), call); }, body);
        if (!call.reply.answered()) {
            if (in_order) {
                // Answered later: a submit once the journal has it, any op in cluster
                // mode.
                call.reply.hold_place(expected_reply(body, size, services_.config.limits));
            } else {
                call.reply.answers_late();
            }
        }
    } catch (const std::exception& e) {
        spdlog::error("op {} from connection {}: {}", request_name(body), peer->id(), e.what());
        call.reply.error({proto::ErrorCode::internal, "internal error; the daemon logged it"});
    }
}

void Dispatcher::connection_closed(conn::Peer& peer) {
    if (peer.worker) {
        services_.remote.connection_closed(peer.id());
    }
    services_.event_log.forget(peer);
    for (const auto& id : services_.events.forget(peer)) {
        // A bound job dies with its connection, as a child with its parent.
        services_.scheduler.cancel(id, nullptr);
    }
}

}  // namespace taskpool::daemon::ops
