#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "connection_registry.hpp"
#include "daemon/config/config.hpp"
#include "daemon/ops/dispatcher.hpp"
#include "peer.hpp"
#include "proto/line_framer.hpp"

namespace taskpool::daemon::net {

/// One NDJSON connection. Three coroutines share it on the io thread:
/// - the reader frames lines and hands each to the dispatcher, in order, so that
///   replies to requests that do not wait leave in the order the requests came;
///   it pauses while more than limits.max_output_buffer_bytes wait to be written;
/// - the writer sends whatever has been queued, in one write per batch (replies to
///   a pipelined burst go out together);
/// - the watchdog closes the connection after limits.idle_timeout_s of silence
///   (unless something holds it) or when a line takes longer than
///   limits.request_timeout_s to arrive.
/// Over twice the output limit, the connection is closed. Thread-safety: io thread.
class Session final : public Peer, public std::enable_shared_from_this<Session> {
public:
    Session(asio::ip::tcp::socket socket, std::uint64_t id, const Config::Limits& limits,
            ops::Dispatcher& dispatcher, ConnectionRegistry& registry);

    void start();

    void close_after_flush() override;
    bool is_open() const override { return !closed_; }

private:
    using Clock = std::chrono::steady_clock;

    asio::awaitable<void> read_loop(std::shared_ptr<Session> keep_alive);
    asio::awaitable<void> write_loop(std::shared_ptr<Session> keep_alive);
    asio::awaitable<void> watchdog(std::shared_ptr<Session> keep_alive);
    void write_line(std::string line) override;
    void held_released() override { resume_reading_if_drained(); }
    void resume_reading_if_drained();
    void on_reply_sent() override;
    void process_lines();
    Clock::time_point deadline() const;
    std::size_t pending_output() const { return out_.size() + writing_.size() + held_bytes(); }
    void close(const char* why);

    asio::ip::tcp::socket socket_;
    const Config::Limits& limits_;
    ops::Dispatcher& dispatcher_;
    ConnectionRegistry& registry_;
    proto::LineFramer framer_;
    std::string out_;      // queued for the next write
    std::string writing_;  // being written
    asio::steady_timer writer_wake_;
    asio::steady_timer reader_wake_;
    asio::steady_timer watchdog_timer_;
    Clock::time_point last_activity_;
    std::optional<Clock::time_point> line_started_;
    std::optional<Clock::time_point> closing_deadline_;
    bool writer_waiting_ = false;
    bool reader_paused_ = false;
    bool read_done_ = false;
    bool closing_ = false;
    bool closed_ = false;
};

}  // namespace taskpool::daemon::net
