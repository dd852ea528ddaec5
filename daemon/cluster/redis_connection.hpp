#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "daemon/base/callback.hpp"
#include "proto/result.hpp"
#include "redis_url.hpp"

struct redisReader;

namespace taskpool::daemon::cluster {

/// A Redis reply (RESP2), copied out of hiredis's.
struct RedisReply {
    enum class Kind { string, status, integer, nil, array, error };
    Kind kind = Kind::nil;
    std::string text;  // of a string, a status or an error
    long long integer = 0;
    std::vector<RedisReply> elements;
};

/// One connection to Redis, on the io thread. Commands are queued as they are
/// made and go out together, in one write per turn of the io_context, so that
/// everything pending shares a round trip; replies come back in order to each
/// command's handler. hiredis parses the replies (its reader only: the socket is
/// Asio's, and nothing blocks).
///
/// A Redis error reply is a reply (kind `error`), not a failure; the handlers
/// fail with `unavailable` only when the connection does (it cannot be reached,
/// it refuses the password, it closes or breaks, or nothing is answered for
/// `reply_timeout`: a Redis that is stopped or swapping holds everything up),
/// and every pending one then fails, in order. The connection is then over: the
/// caller makes another.
///
/// After subscribe(), the connection carries the channels' messages; Redis
/// takes no other command on it but more SUBSCRIBE, UNSUBSCRIBE and PING.
class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
public:
    using Handler = base::Callback<void(proto::Result<RedisReply>)>;

    /// Connects to `url` (AUTH and SELECT as it says); commands made before it
    /// has connected wait for it. `closed` runs once, when it ends, with why.
    static std::shared_ptr<RedisConnection> open(
        asio::io_context& io, const RedisUrl& url, std::function<void(proto::Error)> closed,
        std::chrono::milliseconds reply_timeout = std::chrono::seconds(2));
    ~RedisConnection();
    RedisConnection(const RedisConnection&) = delete;
    RedisConnection& operator=(const RedisConnection&) = delete;

    /// Queues a command, its arguments as Redis takes them: `{"SET", "k", "v"}`.
    void command(std::initializer_list<std::string_view> args, Handler on_reply);
    void command(const std::vector<std::string>& args, Handler on_reply);
    void command(std::span<const std::string_view> args, Handler on_reply);
    using OnMessage = std::function<void(std::string_view channel, std::string_view message)>;
    /// Subscribes to `channels`: `on_message` gets what is published on them
    /// from now on, and `on_subscribed` the reply for the last channel, once
    /// Redis has them all.
    void subscribe(const std::vector<std::string>& channels, OnMessage on_message,
                   Handler on_subscribed);
    /// Ends the connection: the pending handlers fail with `unavailable`.
    void close();
    bool closed() const { return closed_; }

private:
    using Clock = std::chrono::steady_clock;
    struct Pending {
        Handler handler;
        Clock::time_point sent;
    };

    RedisConnection(asio::io_context& io, RedisUrl url, std::function<void(proto::Error)> closed,
                    std::chrono::milliseconds reply_timeout);
    void start();
    void write_pending();
    void read_more();
    /// Takes the replies in what was read; false if it was not RESP.
    bool take_replies(const char* data, std::size_t size);
    /// Fails the connection once the oldest command has waited `reply_timeout_`
    /// with no reply to anything meanwhile.
    void watch_replies();
    Clock::time_point reply_due() const;
    void fail(std::string why);

    asio::io_context& io_;
    RedisUrl url_;
    std::function<void(proto::Error)> on_closed_;
    asio::ip::tcp::resolver resolver_;
    asio::ip::tcp::socket socket_;
    redisReader* reader_;
    std::chrono::milliseconds reply_timeout_;
    asio::steady_timer timer_;
    bool watching_ = false;
    Clock::time_point last_reply_;
    std::deque<Pending> pending_;  // the commands sent or queued, in order
    OnMessage on_message_;         // once subscribed
    std::string out_;              // commands queued, not yet written
    std::string writing_;          // commands being written
    std::string in_ = std::string(16 * 1024, '\0');
    bool connected_ = false;
    bool writing_now_ = false;
    bool write_posted_ = false;
    bool closed_ = false;
};

}  // namespace taskpool::daemon::cluster
