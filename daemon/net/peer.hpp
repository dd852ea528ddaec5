#pragma once

#include <cstdint>
#include <string>

namespace taskpool::daemon::net {

/// A client connection as the ops and events see it: somewhere to send lines, and
/// the per-connection state they keep. Sessions implement it; handlers never see a
/// socket. Thread-safety: io thread only.
class Peer {
public:
    virtual ~Peer() = default;
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    /// Queues one complete line (reply or event, LF included). Does nothing once the
    /// connection is closed.
    virtual void send(std::string line) = 0;
    /// Stops reading, writes what is queued, then closes.
    virtual void close_after_flush() = 0;
    virtual bool is_open() const = 0;

    std::uint64_t id() const { return id_; }

    /// A request waits for its reply (a `wait`, a `block_s`). Each is matched by
    /// reply_sent(). After the client half-closes, these alone keep the connection.
    void reply_pending() { ++pending_replies_; }
    void reply_sent() {
        --pending_replies_;
        on_reply_sent();
    }
    int pending_replies() const { return pending_replies_; }

    /// A subscription, or a notified or bound job, also keeps the connection from
    /// counting as idle. Every hold() is matched by release().
    void hold() { ++holds_; }
    void release() { --holds_; }

    /// Something in flight: the connection is not idle.
    bool busy() const { return pending_replies_ > 0 || holds_ > 0; }

    /// Set by a successful `hello` where the daemon requires a token.
    bool authenticated = false;

protected:
    explicit Peer(std::uint64_t id) : id_(id) {}
    /// Called after each reply_sent(), for a session that waits for its last reply.
    virtual void on_reply_sent() {}

private:
    std::uint64_t id_;
    int pending_replies_ = 0;
    int holds_ = 0;
};

}  // namespace taskpool::daemon::net
