#include "subscriptions.hpp"

#include <algorithm>

#include "proto/reply.hpp"

namespace taskpool::daemon::events {

void Subscriptions::watch(const std::string& job_id, const std::shared_ptr<conn::Peer>& peer,
                          WatchKind kind) {
    peer->hold();
    by_job_[job_id].push_back({peer, kind});
}

void Subscriptions::watch_batch(const std::string& batch, const std::shared_ptr<conn::Peer>& peer) {
    peer->hold();
    by_batch_[batch].push_back(peer);
}

void Subscriptions::subscribe_all(const std::shared_ptr<conn::Peer>& peer) {
    if (all_jobs_.emplace(peer->id(), peer).second) {
        peer->hold();
    }
}

void Subscriptions::unsubscribe(conn::Peer& peer) {
    if (all_jobs_.erase(peer.id()) > 0) {
        peer.release();
    }
    for (auto& [id, watches] : by_job_) {
        std::erase_if(watches, [&](const Watch& w) {
            auto p = w.peer.lock();
            if (w.kind == WatchKind::subscription && p.get() == &peer) {
                peer.release();
                return true;
            }
            return false;
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
    publish(job, "job.started", false);
}

void Subscriptions::job_finished(const proto::Job& job) {
    publish(job, "job.finished", true);
}

void Subscriptions::batch_finished(const std::string& batch, const proto::BatchCounts& counts) {
    auto it = by_batch_.find(batch);
    if (it == by_batch_.end() && all_jobs_.empty()) {
        return;
    }
    std::vector<std::shared_ptr<conn::Peer>> watchers;
    if (it != by_batch_.end()) {
        for (const auto& weak : it->second) {
            if (auto peer = weak.lock()) {
                watchers.push_back(std::move(peer));
            }
        }
        by_batch_.erase(it);
    }
    send(watchers, proto::encode_batch_event(batch, counts, proto::now_timestamp()));
    for (auto& peer : watchers) {
        peer->release();
    }
}

void Subscriptions::publish(const proto::Job& job, std::string_view event, bool final) {
    auto it = by_job_.find(job.id);
    if (it == by_job_.end() && all_jobs_.empty()) {
        return;
    }
    // Gather first, send after: a send may close a peer, whose close path calls
    // forget() and so changes these maps.
    std::vector<std::shared_ptr<conn::Peer>> recipients;
    std::vector<std::shared_ptr<conn::Peer>> released;
    if (it != by_job_.end()) {
        for (const auto& w : it->second) {
            if (auto peer = w.peer.lock()) {
                if (final) {
                    released.push_back(peer);
                }
                if (w.kind != WatchKind::bind) {
                    recipients.push_back(std::move(peer));
                }
            }
        }
        if (final) {
            by_job_.erase(it);
        }
    }
    if (!recipients.empty() || !all_jobs_.empty()) {
        send(std::move(recipients), proto::encode_job_event(event, job));
    }
    for (auto& peer : released) {
        peer->release();
    }
}

void Subscriptions::send(std::vector<std::shared_ptr<conn::Peer>> recipients,
                         const std::string& line) {
    for (auto& [id, weak] : all_jobs_) {
        if (auto peer = weak.lock()) {
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
