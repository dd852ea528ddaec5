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

    /// Something in flight keeps this connection from counting as idle: a waiting
    /// request, a subscription, a notified or bound job. Every hold() is released.
    void hold() { ++holds_; }
    void release() {
        --holds_;
        on_released();
    }
    int holds() const { return holds_; }

    /// Set by a successful `hello` where the daemon requires a token.
    bool authenticated = false;

protected:
    explicit Peer(std::uint64_t id) : id_(id) {}
    /// Called after each release(), for a session that waits for its last hold.
    virtual void on_released() {}

private:
    std::uint64_t id_;
    int holds_ = 0;
};

}  // namespace taskpool::daemon::net
