#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "daemon/config/config.hpp"
#include "daemon/conn/connection_registry.hpp"
#include "daemon/conn/peer.hpp"
#include "daemon/ops/dispatcher.hpp"
#include "protocol.hpp"

namespace asio::ssl {
class context;
template <typename Stream>
class stream;
}  // namespace asio::ssl

namespace taskpool::daemon::net {

/// One client connection, NDJSON or HTTP, over TCP or inside TLS (the Protocol, picked from the
/// first bytes). Three coroutines share it on the io thread:
/// - the reader hands what arrives to the protocol, which dispatches requests in
///   order; it pauses while more than limits.max_output_buffer_bytes wait to be
///   written, or while the protocol wants no more input;
/// - the writer sends whatever has been queued, in one write per batch (replies to
///   a pipelined burst go out together);
/// - the watchdog closes the connection after limits.idle_timeout_s of silence
///   (unless something holds it) or when a request takes longer than
///   limits.request_timeout_s to arrive.
/// Output over twice the limit when more is queued (events that could not be held
/// back, for a client that does not read) closes the connection. A connection closed while
/// the client is still sending is shut down for writing first and its input drained
/// for a moment, so that the last reply is not lost to a reset. Thread-safety: io
/// thread.
class Session final : public conn::Peer, public std::enable_shared_from_this<Session> {
public:
    /// With `tls`, the connection speaks TLS made with that context, which it keeps.
    Session(asio::ip::tcp::socket socket, std::uint64_t id, const Config::Limits& limits,
            ops::Dispatcher& dispatcher, conn::ConnectionRegistry& registry,
            std::shared_ptr<asio::ssl::context> tls);
    ~Session() override;

    void start();

    void close_after_flush() override;
    bool is_open() const override { return !closed_; }

    /// Queues bytes to write (the protocols' output).
    void queue_output(std::string bytes);
    /// Lets the protocol go on with requests it held back while the output was
    /// over its bound, and wakes the reader if it paused and may go on.
    void resume_reading_if_drained();
    /// At most limits.max_output_buffer_bytes wait to be written: requests may be
    /// answered.
    bool output_has_room() const {
        return pending_output() <= static_cast<std::size_t>(limits_.max_output_buffer_bytes);
    }
    std::size_t max_line_bytes() const override {
        return 2 * static_cast<std::size_t>(limits_.max_output_buffer_bytes);
    }
    bool closing() const override { return closing_; }
    std::string address() const override;
    ops::Dispatcher& dispatcher() { return dispatcher_; }
    const Config::Limits& limits() const { return limits_; }

private:
    using Clock = std::chrono::steady_clock;

    asio::awaitable<void> read_loop(std::shared_ptr<Session> keep_alive);
    /// TLS's handshake, once the first byte says it is one; false: closed.
    asio::awaitable<bool> handshake();
    /// Sends TLS's close_notify, without waiting for the client's.
    asio::awaitable<void> send_close_notify();
    /// Input TLS has taken off the socket and not handed over yet.
    bool tls_input_waiting() const;
    /// What TLS has already received beyond the record a read returned, into `out`.
    std::size_t take_received_records(std::span<char> out);
    asio::awaitable<void> write_loop(std::shared_ptr<Session> keep_alive);
    asio::awaitable<void> watchdog(std::shared_ptr<Session> keep_alive);
    void write_line(std::string line, Line kind) override;
    void held_released() override { resume_reading_if_drained(); }
    asio::awaitable<void> finish_closing();
    void on_reply_sent() override;
    void received(std::string_view bytes);
    bool wants_input() const;
    Clock::time_point deadline() const;
    /// A token is required and this connection has not shown it yet.
    bool awaits_hello() const;
    Clock::time_point hello_due() const;
    std::size_t pending_output() const { return out_.size() + writing_.size() + held_bytes(); }
    void close(const char* why);

    asio::ip::tcp::socket socket_;
    std::shared_ptr<asio::ssl::context> tls_context_;
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // none: plain TCP
    const Config::Limits& limits_;
    ops::Dispatcher& dispatcher_;
    conn::ConnectionRegistry& registry_;
    std::unique_ptr<Protocol> protocol_;  // none until the first bytes tell which
    std::string first_bytes_;
    std::string out_;      // queued for the next write
    std::string writing_;  // being written
    asio::steady_timer writer_wake_;
    asio::steady_timer reader_wake_;
    asio::steady_timer watchdog_timer_;
    Clock::time_point last_activity_;
    Clock::time_point accepted_at_;
    std::optional<Clock::time_point> request_started_;
    std::optional<Clock::time_point> closing_deadline_;
    bool handshaken_ = false;  // TLS's handshake is done
    bool writer_waiting_ = false;
    bool reader_paused_ = false;
    bool read_done_ = false;
    bool closing_ = false;
    bool flushed_ = false;  // closing, all written, waiting for the client to go
    bool closed_ = false;
};

}  // namespace taskpool::daemon::net
