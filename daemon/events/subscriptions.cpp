#include "subscriptions.hpp"

#include <algorithm>

#include "proto/reply.hpp"

namespace taskpool::daemon::events {

void Subscriptions::watch(const std::string& job_id, const std::shared_ptr<conn::Peer>& peer,
                          WatchKind kind) {
    by_job_[job_id].push_back({conn::PeerHold(peer), kind});
}

void Subscriptions::watch_batch(const std::string& batch, const std::shared_ptr<conn::Peer>& peer) {
    by_batch_[batch].emplace_back(peer);
}

void Subscriptions::subscribe_all(const std::shared_ptr<conn::Peer>& peer) {
    if (!all_jobs_.contains(peer->id())) {
        all_jobs_.emplace(peer->id(), conn::PeerHold(peer));
    }
}

void Subscriptions::unsubscribe(conn::Peer& peer) {
    all_jobs_.erase(peer.id());
    for (auto& [id, watches] : by_job_) {
        std::erase_if(watches, [&](const Watch& w) {
            return w.kind == WatchKind::subscription && w.peer.lock().get() == &peer;
        });
    }
}

std::vector<std::string> Subscriptions::forget(conn::Peer& peer) {
    all_jobs_.erase(peer.id());
    std::vector<std::string> bound;
    for (auto& [id, watches] : by_job_) {
        for (const auto& w : watches) {
            auto p = w.peer.lock();
            if (w.kind == WatchKind::bind && (p == nullptr || p.get() == &peer)) {
                bound.push_back(id);
            }
        }
    }
    return bound;
}

void Subscriptions::job_started(const proto::Job& job) {
    publish(job.id, false, [&] { return proto::encode_job_event("job.started", job); });
}

void Subscriptions::job_finished(const proto::Job& job) {
    publish(job.id, true, [&] { return proto::encode_job_event("job.finished", job); });
}

void Subscriptions::job_progress(const proto::Job& job) {
    publish(job.id, false, [&] { return proto::encode_progress_event(job.id, *job.progress); });
}

void Subscriptions::batch_finished(const std::string& batch, const proto::BatchEnd& end) {
    if (by_batch_.contains(batch) || !all_jobs_.empty()) {
        publish_batch(batch, proto::encode_batch_event(batch, end, proto::now_timestamp()));
    }
}

void Subscriptions::relay(char kind, std::string_view id, const std::string& line) {
    std::string key(id);
    if (kind == 'B') {
        publish_batch(key, line);
    } else {
        publish(key, kind == 'F', [&] { return line; });
    }
}

void Subscriptions::publish_batch(const std::string& batch, const std::string& line) {
    auto it = by_batch_.find(batch);
    if (it == by_batch_.end() && all_jobs_.empty()) {
        return;
    }
    std::vector<std::shared_ptr<conn::Peer>> watchers;
    if (it != by_batch_.end()) {
        for (const auto& hold : it->second) {
            if (auto peer = hold.lock()) {
                watchers.push_back(std::move(peer));
            }
        }
        by_batch_.erase(it);  // the watches end, and let their connections go
    }
    send(watchers, line);
}

template <class Encode>
void Subscriptions::publish(const std::string& job_id, bool final, const Encode& encode) {
    auto it = by_job_.find(job_id);
    if (it == by_job_.end() && all_jobs_.empty()) {
        return;
    }
    // Gather first, send after: a send may close a peer, whose close path calls
    // forget() and so changes these maps.
    std::vector<std::shared_ptr<conn::Peer>> recipients;
    if (it != by_job_.end()) {
        for (const auto& w : it->second) {
            auto peer = w.peer.lock();
            if (peer && w.kind != WatchKind::bind) {
                recipients.push_back(std::move(peer));
            }
        }
        if (final) {
            by_job_.erase(it);  // the watches end, and let their connections go
        }
    }
    if (!recipients.empty() || !all_jobs_.empty()) {
        send(std::move(recipients), encode());
    }
}

void Subscriptions::send(std::vector<std::shared_ptr<conn::Peer>> recipients,
                         const std::string& line) {
    for (auto& [id, hold] : all_jobs_) {
        if (auto peer = hold.lock()) {
            recipients.push_back(std::move(peer));
        }
    }
    std::sort(recipients.begin(), recipients.end());
    recipients.erase(std::unique(recipients.begin(), recipients.end()), recipients.end());
    for (auto& peer : recipients) {
        peer->send(line);
    }
}

}  // namespace taskpool::daemon::events
