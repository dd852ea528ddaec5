#include "event_log.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "proto/reply.hpp"

namespace taskpool::daemon::events {
namespace {

std::string one_line(std::string line) {
    if (!line.empty() && line.back() == '\n') {
        line.pop_back();
    }
    return line;
}

}  // namespace

EventLog::EventLog(asio::io_context& io)
    : keepalive_timer_(io),
      epoch_(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count())) {}

void EventLog::open(const std::shared_ptr<conn::Peer>& peer, proto::EventFilter filter,
                    const std::optional<std::string>& last_event_id) {
    // The browser's EventSource comes back a second after the stream ends.
    peer->send("retry: 1000\n\n");
    if (last_event_id) {
        std::uint64_t after = 0;
        if (last_event_id->starts_with(epoch_ + ".")) {
            auto seq = std::string_view(*last_event_id).substr(epoch_.size() + 1);
            std::from_chars(seq.data(), seq.data() + seq.size(), after);
        }
        // What is kept may be more than the output bound lets a slow reader have:
        // it is closed then, and comes back with a later id.
        for (auto it = kept_.begin(); it != kept_.end() && peer->is_open(); ++it) {
            if (it->seq > after && matches(filter, *it)) {
                peer->send(frame(*it));
            }
        }
    }
    if (!peer->is_open()) {
        return;
    }
    if (streams_.empty()) {
        arm_keepalive();
    }
    keeping_ = true;
    streams_.push_back({conn::PeerHold(peer), std::move(filter)});
}

void EventLog::forget(conn::Peer& peer) {
    std::erase_if(streams_, [&peer](const Stream& s) {
        auto p = s.peer.lock();
        return !p || p.get() == &peer;
    });
}

void EventLog::arm_keepalive() {
    keepalive_timer_.expires_after(keepalive);
    keepalive_timer_.async_wait([this](std::error_code ec) {
        if (ec) {
            return;
        }
        for (const auto& peer : peers([](const Stream&) { return true; })) {
            peer->send(":\n\n");
        }
        if (!streams_.empty()) {
            arm_keepalive();
        }
    });
}

template <class Wants>
std::vector<std::shared_ptr<conn::Peer>> EventLog::peers(const Wants& wants) const {
    // Collected first: a send may close a stream, which forgets it.
    std::vector<std::shared_ptr<conn::Peer>> out;
    for (const auto& s : streams_) {
        if (auto peer = s.peer.lock(); peer && wants(s)) {
            out.push_back(std::move(peer));
        }
    }
    return out;
}

bool EventLog::matches(const proto::EventFilter& filter, const Event& e) {
    if (!e.state) {
        return !filter.any();  // batch.finished
    }
    return (!filter.job || *filter.job == e.job) && (!filter.task || *filter.task == e.task) &&
           (!filter.queue || *filter.queue == e.queue) &&
           (!filter.state || *filter.state == *e.state);
}

std::string EventLog::frame(const Event& e) const {
    std::string f = "id: " + epoch_ + "." + std::to_string(e.seq) + "\nevent: ";
    f += e.name;
    f += "\ndata: ";
    f += e.data;
    f += "\n\n";
    return f;
}

void EventLog::add(Event e) {
    e.seq = next_seq_++;
    for (const auto& peer : peers([&e](const Stream& s) { return matches(s.filter, e); })) {
        peer->send(frame(e));
    }
    kept_bytes_ += e.data.size();
    kept_.push_back(std::move(e));
    while (kept_.size() > max_kept || kept_bytes_ > max_kept_bytes) {
        kept_bytes_ -= kept_.front().data.size();
        kept_.pop_front();
    }
}

void EventLog::job_started(const proto::Job& job) {
    if (!keeping_) {
        return;  // no stream has been asked for: nothing is made
    }
    std::string queue = job.queue ? *job.queue : "";
    running_[job.id] = {job.task, queue};
    add({0, "job.started", job.id, job.task, std::move(queue), job.state,
         one_line(proto::encode_job_event("job.started", job))});
}

void EventLog::job_finished(const proto::Job& job) {
    if (!keeping_) {
        return;  // no stream has been asked for: nothing is made
    }
    running_.erase(job.id);
    add({0, "job.finished", job.id, job.task, job.queue ? *job.queue : "", job.state,
         one_line(proto::encode_job_event("job.finished", job))});
}

void EventLog::job_progress(const proto::Job& job) {
    if (!keeping_) {
        return;  // no stream has been asked for: nothing is made
    }
    add({0, "job.progress", job.id, job.task, job.queue ? *job.queue : "", job.state,
         one_line(proto::encode_progress_event(job.id, *job.progress))});
}

void EventLog::batch_finished(const std::string& batch, const proto::BatchEnd& end) {
    if (!keeping_) {
        return;  // no stream has been asked for: nothing is made
    }
    add({0,
         "batch.finished",
         batch,
         {},
         {},
         std::nullopt,
         one_line(proto::encode_batch_event(batch, end, proto::now_timestamp()))});
}

void EventLog::relay(char kind, std::string_view id, const std::string& line) {
    if (!keeping_) {
        return;  // no stream has been asked for: nothing is made
    }
    Event e{0, {}, std::string(id), {}, {}, std::nullopt, one_line(line)};
    if (kind == 'B') {
        e.name = "batch.finished";
        add(std::move(e));
        return;
    }
    if (kind == 'P') {
        e.name = "job.progress";
        e.state = proto::JobState::running;
        if (auto it = running_.find(e.job); it != running_.end()) {
            e.task = it->second.task;
            e.queue = it->second.queue;
        }
        add(std::move(e));
        return;
    }
    auto parsed = nlohmann::json::parse(e.data, nullptr, false);
    const auto& job = parsed.is_object() ? parsed.value("job", nlohmann::json::object())
                                         : nlohmann::json::object();
    e.name = kind == 'S' ? "job.started" : "job.finished";
    e.task = job.value("task", "");
    e.queue = job.value("queue", "");
    e.state = proto::state_from_string(job.value("state", ""));
    if (!e.state) {
        return;  // not an event this daemon wrote
    }
    if (kind == 'S') {
        running_[e.job] = {e.task, e.queue};
    } else {
        running_.erase(e.job);
    }
    add(std::move(e));
}

}  // namespace taskpool::daemon::events
