#include "dispatcher.hpp"

#include <spdlog/spdlog.h>

#include "handlers.hpp"

namespace taskpool::daemon::ops {

void Dispatcher::handle_line(const std::shared_ptr<net::Peer>& peer, std::string_view line) {
    auto decoded = proto::decode_request_line(line);
    Call call{services_, peer, Reply(peer, decoded.id)};
    if (!decoded.body) {
        call.reply.error(decoded.body.error());
        return;
    }
    auto& body = decoded.body.value();
    if (services_.config.auth.token && !peer->authenticated &&
        !std::holds_alternative<proto::HelloRequest>(body)) {
        call.reply.error({proto::ErrorCode::unauthorized,
                          "this daemon requires a token: send hello with it first"});
        peer->close_after_flush();
        return;
    }
    try {
        std::visit([&](auto& req) { handle(std::move(req), call); }, body);
    } catch (const std::exception& e) {
        spdlog::error("op {} from connection {}: {}", line.substr(0, 200), peer->id(), e.what());
        call.reply.error({proto::ErrorCode::internal, "internal error; the daemon logged it"});
    }
}

void Dispatcher::connection_closed(net::Peer& peer) {
    for (const auto& id : services_.events.forget(peer)) {
        // A bound job dies with its connection, as a child with its parent.
        (void)services_.scheduler.cancel(id);
    }
}

}  // namespace taskpool::daemon::ops
