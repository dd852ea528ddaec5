#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "daemon/base/logging.hpp"
#include "daemon/config/config.hpp"
#include "daemon/conn/connection_registry.hpp"
#include "daemon/ops/dispatcher.hpp"

namespace taskpool::daemon::net {

/// Accepts connections and starts a session for each. Past limits.max_connections a
/// connection gets one too_many_connections line and is closed. When accept fails
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
};

}  // namespace taskpool::daemon::net
