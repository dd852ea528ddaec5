#include "connection_registry.hpp"

#include <utility>
#include <vector>

namespace taskpool::daemon::conn {

void ConnectionRegistry::add(const std::shared_ptr<Peer>& peer) {
    peers_.emplace(peer->id(), peer);
    ++accepted_;
}

void ConnectionRegistry::remove(std::uint64_t id) {
    peers_.erase(id);
    if (peers_.empty() && on_empty_) {
        std::exchange(on_empty_, nullptr)();
    }
}

std::pair<std::size_t, std::shared_ptr<Peer>> ConnectionRegistry::unauthenticated() const {
    std::size_t count = 0;
    std::shared_ptr<Peer> oldest;
    for (const auto& [id, weak] : peers_) {
        auto peer = weak.lock();
        if (peer && !peer->authenticated() && !peer->closing()) {
            ++count;
            if (!oldest || id < oldest->id()) {
                oldest = std::move(peer);
            }
        }
    }
    return {count, std::move(oldest)};
}

void ConnectionRegistry::close_all(std::function<void()> on_empty) {
    on_empty_ = std::move(on_empty);
    std::vector<std::shared_ptr<Peer>> open;
    for (auto& [id, weak] : peers_) {
        if (auto peer = weak.lock()) {
            open.push_back(std::move(peer));
        }
    }
    for (auto& peer : open) {
        peer->close_after_flush();
    }
    if (peers_.empty() && on_empty_) {
        std::exchange(on_empty_, nullptr)();
    }
}

}  // namespace taskpool::daemon::conn
