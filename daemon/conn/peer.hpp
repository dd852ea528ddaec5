#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "daemon/auth/credentials.hpp"

namespace taskpool::daemon::conn {

/// A client connection as the ops and events see it: somewhere to send lines, and
/// the per-connection state they keep. Sessions implement it; handlers never see a
/// socket. Thread-safety: io thread only.
class Peer {
public:
    virtual ~Peer() = default;
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    /// What a line is, for the output bound: replies are bounded by the requests
    /// read (which stop while the output is over the bound), events are not. An
    /// in-order reply answers a request that does not wait, read while there was
    /// room: the reader has already stopped for it. A (late) reply answers one that
    /// waited, and such replies can pile up.
    enum class Line { reply, in_order_reply, event };
    /// Replies of a size unknown until they come (a list read from Redis) that a
    /// connection awaits at once, at most: each holds this share of the output
    /// bound while awaited.
    static constexpr std::size_t max_unknown_replies = 16;

    /// Queues one complete line (LF included), behind any place still held. Does
    /// nothing once the connection is closed.
    void send(std::string line, Line kind = Line::event);
    /// Holds the place of a reply that comes later but keeps request order
    /// (PROTOCOL.md section 2: requests that do not wait are answered in the order
    /// they arrived), such as a submit acknowledged once the journal has it. Lines
    /// sent after it wait until fill() gives it its line (empty: none). `expected`
    /// is the reply's likely size, counted as output meanwhile (see held_bytes()).
    std::uint64_t hold_place(std::size_t expected);
    void fill(std::uint64_t place, std::string line);
    /// Output held back by places: what is expected of each, and what is queued
    /// behind them. Counts with the connection's output buffer, so that a client
    /// with many replies held is paused before they all come at once.
    std::size_t held_bytes() const { return held_bytes_; }
    /// The longest line this connection takes: a reply longer than this is replaced
    /// by a message_too_large error.
    virtual std::size_t max_line_bytes() const = 0;
    /// Stops reading, writes what is queued, then closes.
    virtual void close_after_flush() = 0;
    virtual bool is_open() const = 0;
    /// Closing: it takes no more requests.
    virtual bool closing() const = 0;

    std::uint64_t id() const { return id_; }
    /// The client's address, "host:port"; empty where there is none to tell.
    virtual std::string address() const { return {}; }

    /// A request waits for its reply (a `wait`, a `block_s`). Each is matched by
    /// reply_sent(). After the client half-closes, these alone keep the connection.
    void reply_pending() { ++pending_replies_; }
    void reply_sent() {
        --pending_replies_;
        on_reply_sent();
    }
    int pending_replies() const { return pending_replies_; }

    /// Something in flight: the connection is not idle.
    bool busy() const { return pending_replies_ > 0 || holds_ > 0; }

    /// Where the daemon requires a token: the one this connection showed (in
    /// `hello`, or in the HTTP request it is answering), and what it may do.
    std::optional<auth::Grant> grant;
    bool authenticated() const { return grant.has_value(); }
    /// It registered as a remote worker: its every request shows it alive.
    bool worker = false;

protected:
    explicit Peer(std::uint64_t id) : id_(id) {}
    /// Writes one line out, in the order given.
    virtual void write_line(std::string line, Line kind) = 0;
    /// Called after fill() has let held output go (held_bytes() is smaller).
    virtual void held_released() {}
    /// Called after each reply_sent(), for a session that waits for its last reply.
    virtual void on_reply_sent() {}

private:
    friend class PeerHold;
    struct Place {
        bool filled = false;
        std::string line;
        std::size_t expected = 0;
        Line kind = Line::reply;
    };

    std::uint64_t id_;
    std::deque<Place> held_;  // from the oldest place still held
    std::uint64_t first_held_ = 0;
    std::size_t held_bytes_ = 0;
    int pending_replies_ = 0;
    int holds_ = 0;
};

/// Keeps a connection from counting as idle for as long as it lives: a
/// subscription, a notified or bound job. Lets go when dropped, if the connection
/// is still there. Move-only.
class PeerHold {
public:
    explicit PeerHold(const std::shared_ptr<Peer>& peer) : peer_(peer) { ++peer->holds_; }
    PeerHold(PeerHold&&) noexcept = default;  // leaves the other empty
    PeerHold& operator=(PeerHold&& o) noexcept {
        if (this != &o) {
            let_go();
            peer_ = std::move(o.peer_);
        }
        return *this;
    }
    ~PeerHold() { let_go(); }

    std::shared_ptr<Peer> lock() const { return peer_.lock(); }

private:
    void let_go() {
        if (auto peer = peer_.lock()) {
            --peer->holds_;
        }
        peer_.reset();
    }

    std::weak_ptr<Peer> peer_;
};

}  // namespace taskpool::daemon::conn
