#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "peer.hpp"

namespace taskpool::daemon::conn {

/// The live connections: their count (stats, max_connections) and the way to close
/// them all at shutdown. Holds weak references; a session removes itself when it
/// closes. Thread-safety: io thread only.
class ConnectionRegistry {
public:
    std::uint64_t next_id() { return next_id_++; }
    void add(const std::shared_ptr<Peer>& peer);
    void remove(std::uint64_t id);
    std::size_t size() const { return peers_.size(); }
    /// Connections added since start.
    std::uint64_t accepted() const { return accepted_; }
    /// How many connections have not authenticated, and the oldest of them.
    std::pair<std::size_t, std::shared_ptr<Peer>> unauthenticated() const;

    /// Asks every connection to flush and close; `on_empty` runs when the last one
    /// has gone (at once if none is open).
    void close_all(std::function<void()> on_empty);

private:
    std::unordered_map<std::uint64_t, std::weak_ptr<Peer>> peers_;
    std::uint64_t next_id_ = 1;
    std::uint64_t accepted_ = 0;
    std::function<void()> on_empty_;
};

}  // namespace taskpool::daemon::conn
