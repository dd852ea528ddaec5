#pragma once

#include <memory>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "daemon/base/logging.hpp"
#include "daemon/config/config.hpp"
#include "daemon/conn/connection_registry.hpp"
#include "daemon/ops/dispatcher.hpp"

namespace asio::ssl {
class context;
}

namespace taskpool::daemon::net {

/// Accepts connections and starts a session for each, in TLS where it has a TLS
/// context. Past limits.max_connections a connection gets one too_many_connections
/// line (in plain TCP; under TLS it is closed at once) and is closed. When accept fails
/// (EMFILE: out of descriptors) it waits a moment before trying again instead of
/// spinning. Thread-safety: io thread.
class Listener {
public:
    /// Binds and listens at once, so start-up errors reach the operator.
    /// @throws std::system_error when the address cannot be bound.
    Listener(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint, const Config& config,
             ops::Dispatcher& dispatcher, conn::ConnectionRegistry& registry);

    asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    void start();
    void close();
    /// The TLS new connections are made with; none: plain TCP.
    void set_tls_context(std::shared_ptr<asio::ssl::context> tls) { tls_ = std::move(tls); }

private:
    asio::awaitable<void> accept_loop();
    void refuse(asio::ip::tcp::socket socket);
    /// Where a token is required: closes the oldest connection that has not said
    /// hello when half the connections are such.
    void make_room_for_a_stranger();

    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer backoff_;
    LogThrottle accept_failures_{std::chrono::seconds(10)};
    LogThrottle refusals_{std::chrono::seconds(10)};
    LogThrottle evictions_{std::chrono::seconds(10)};
    const Config& config_;
    ops::Dispatcher& dispatcher_;
    conn::ConnectionRegistry& registry_;
    std::shared_ptr<asio::ssl::context> tls_;
};

}  // namespace taskpool::daemon::net
