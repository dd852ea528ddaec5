#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include "proto/line_framer.hpp"
#include "taskpool/client.hpp"

namespace taskpool {

/// One connection to the daemon, over TCP or TLS: whole lines out, parsed lines in.
///
/// Reads run on the connection's own io_context until their deadline, so a reply
/// that is late is a timeout and the connection stays usable; a poll() of the socket
/// would not do under TLS, where whole records can wait in OpenSSL's buffers.
struct Client::Connection {
    using Clock = std::chrono::steady_clock;

    /// Connects to `address` (HOST:PORT, tls://HOST:PORT or tcp://HOST:PORT) and,
    /// where TLS is on, completes the handshake by the deadline.
    static ClientResult<std::unique_ptr<Connection>> open(
        const std::string& address, const ConnectOptions& options,
        std::optional<Clock::time_point> deadline);

    ClientResult<void> write(const std::string& line);
    /// The next line, parsed; waits until `deadline` (none: forever), or until
    /// wake() (both a timeout error).
    ClientResult<nlohmann::json> read_line(std::optional<Clock::time_point> deadline);
    /// The next line as it came, valid until the next read; waits as read_line().
    ClientResult<std::string_view> read_frame(std::optional<Clock::time_point> deadline);
    /// From any thread: ends the wait for a line that the reading thread is in, or
    /// its next one, so that it can act on what another thread left for it.
    void wake();
    /// The session's parameters and the daemon's certificate; none over plain TCP.
    std::optional<TlsInfo> tls_info() const;

private:
    ClientResult<void> start_tls(const std::string& host, const ConnectOptions& options,
                                 std::optional<Clock::time_point> deadline);
    /// Runs the io_context until `done` or the deadline; past it, cancels what is
    /// pending and returns false.
    bool run_until(const bool& done, std::optional<Clock::time_point> deadline);
    ClientError read_error(const std::error_code& ec) const;

    asio::io_context io_;
    asio::ip::tcp::socket socket_{io_};
    std::optional<asio::ssl::context> tls_context_;
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // none: plain TCP
    // Replies can be large (a list of many jobs): bound them well above the
    // daemon's own request limit.
    proto::LineFramer framer_{256 * 1024 * 1024};
    /// The daemon asked for a client certificate and this side had none to give.
    bool certificate_requested_ = false;
    bool woken_ = false;  // wake() ended the read in progress
    std::string buffer_ = std::string(64 * 1024, '\0');
};

}  // namespace taskpool
