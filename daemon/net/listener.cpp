#include "listener.hpp"

#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "daemon/base/no_throw.hpp"
#include "proto/reply.hpp"
#include "session.hpp"

namespace taskpool::daemon::net {
namespace {

using base::no_throw;
constexpr auto accept_backoff = std::chrono::milliseconds(100);

}  // namespace

Listener::Listener(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint,
                   const Config& config, ops::Dispatcher& dispatcher,
                   conn::ConnectionRegistry& registry)
    : acceptor_(io), backoff_(io), config_(config), dispatcher_(dispatcher), registry_(registry) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start() {
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), [](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::error("accept loop stopped: {}", ex.what());
            }
        }
    });
}

void Listener::close() {
    std::error_code ignored;
    acceptor_.close(ignored);
    backoff_.cancel();
}

asio::awaitable<void> Listener::accept_loop() {
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(no_throw);
        if (ec) {
            if (!acceptor_.is_open()) {
                co_return;
            }
            if (auto held_back = accept_failures_.admit()) {
                spdlog::warn("accept failed: {}; retrying every {} ms{}", ec.message(),
                             accept_backoff.count(), LogThrottle::held_back_note(*held_back));
            }
            backoff_.expires_after(accept_backoff);
            co_await backoff_.async_wait(no_throw);
            continue;
        }
        if (registry_.size() >= static_cast<std::size_t>(config_.limits.max_connections)) {
            refuse(std::move(socket));
            continue;
        }
        if (dispatcher_.requires_token()) {
            make_room_for_a_stranger();
        }
        std::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        auto session = std::make_shared<Session>(std::move(socket), registry_.next_id(),
                                                 config_.limits, dispatcher_, registry_, tls_);
        registry_.add(session);
        session->start();
    }
}

void Listener::make_room_for_a_stranger() {
    // Strangers may hold half the connections at most, so that silent sockets
    // cannot lock out a client with the token; the oldest gives way.
    auto share =
        std::max<std::size_t>(1, static_cast<std::size_t>(config_.limits.max_connections) / 2);
    auto [count, oldest] = registry_.unauthenticated();
    if (count >= share && oldest) {
        if (auto held_back = evictions_.admit()) {
            spdlog::warn(
                "closed connection {}: half of limits.max_connections have not said "
                "hello, and a new one came{}",
                oldest->id(), LogThrottle::held_back_note(*held_back));
        }
        oldest->close_after_flush();
    }
}

void Listener::refuse(asio::ip::tcp::socket socket) {
    if (auto held_back = refusals_.admit()) {
        spdlog::warn("refused a connection: {} open (limits.max_connections){}", registry_.size(),
                     LogThrottle::held_back_note(*held_back));
    }
    if (tls_) {
        return;  // closed as it goes: a line in clear would mean nothing to it
    }
    auto s = std::make_shared<asio::ip::tcp::socket>(std::move(socket));
    auto line = std::make_shared<std::string>(proto::encode_error(
        nlohmann::json(nullptr),
        {proto::ErrorCode::too_many_connections,
         "too many connections (limits.max_connections " +
             std::to_string(config_.limits.max_connections) + "); try again later"}));
    asio::async_write(*s, asio::buffer(*line), [s, line](std::error_code, std::size_t) {
        std::error_code ignored;
        s->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        s->close(ignored);
    });
}

}  // namespace taskpool::daemon::net
