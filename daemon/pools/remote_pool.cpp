#include "remote_pool.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <asio/post.hpp>
#include "proto/json_writer.hpp"

namespace taskpool::daemon::pools {
namespace {

// A worker is lost after this many heartbeats without a word.
constexpr int heartbeats_missed = 3;

std::string assign_event(const sched::Run& run) {
    proto::JsonWriter w;
    w.begin_object().field("event", "job.assign").key("job").begin_object();
    proto::write_job_fields(w, *run.job);
    if (run.timeout_s) {
        w.field("timeout_s", *run.timeout_s);  // the worker may stop in time by itself
    }
    w.end_object().end_object().raw("\n");
    return std::move(w).take();
}

std::string cancel_event(std::string_view job, sched::StopReason reason) {
    proto::JsonWriter w;
    w.begin_object().field("event", "job.cancel").field("job", job);
    w.field("reason", reason == sched::StopReason::timeout ? "timeout" : "cancelled");
    w.end_object().raw("\n");
    return std::move(w).take();
}

}  // namespace

RemotePool::RemotePool(asio::io_context& io, Settings settings, sched::RunEvents events)
    : io_(io), settings_(settings), events_(std::move(events)), timer_(io) {}

std::string RemotePool::register_worker(const std::shared_ptr<conn::Peer>& peer, Registration r) {
    Worker w;
    w.id = ids_.next("w-");
    w.info = proto::WorkerInfo{0, std::nullopt, w.id, r.name};
    w.registration = std::move(r);
    w.peer = peer;
    w.connected_at = proto::now_timestamp();
    w.last_heard = Clock::now();
    std::string id = w.id;
    spdlog::info("worker {} ({}, {}) registered: {} slots for {} task(s)", id, w.registration.name,
                 w.registration.addr, w.registration.capacity, w.registration.tasks.size());
    workers_.emplace(peer->id(), std::move(w));
    arm_timer();
    events_.capacity();
    return id;
}

proto::Result<void> RemotePool::quiet(std::uint64_t peer_id) {
    auto it = workers_.find(peer_id);
    if (it == workers_.end()) {
        return proto::Error{proto::ErrorCode::not_assigned, "this connection is no worker"};
    }
    it->second.quiet = true;
    return {};
}

void RemotePool::heard_from(std::uint64_t peer_id) {
    if (auto it = workers_.find(peer_id); it != workers_.end()) {
        it->second.last_heard = Clock::now();
    }
}

RemotePool::Worker* RemotePool::worker_of(std::uint64_t peer_id) {
    auto it = workers_.find(peer_id);
    return it == workers_.end() ? nullptr : &it->second;
}

proto::Error RemotePool::not_assigned(std::string_view job, bool stopped) const {
    return {proto::ErrorCode::not_assigned,
            std::string(job) + (stopped ? " was cancelled or timed out: the report changes nothing"
                                        : " is not a job this worker holds")};
}

proto::Result<void> RemotePool::finish(std::uint64_t peer_id, std::string_view job,
                                       tasks::TaskOutcome outcome) {
    Worker* w = worker_of(peer_id);
    if (w == nullptr) {
        return not_assigned(job, false);
    }
    // A run it was told to stop goes first: the worker heard of that before any
    // later attempt of the same job reached it.
    if (auto it = w->stopping.find(std::string(job)); it != w->stopping.end()) {
        runs_.erase(it->second);
        w->stopping.erase(it);
        ++w->done;
        events_.capacity();
        return not_assigned(job, true);
    }
    auto it = w->held.find(std::string(job));
    if (it == w->held.end()) {
        return not_assigned(job, false);
    }
    Held held = runs_.extract(it->second).mapped();
    w->held.erase(it);
    ++w->done;
    events_.finished({held.seq, held.attempt, std::move(outcome)});
    return {};
}

proto::Result<void> RemotePool::progress(std::uint64_t peer_id, std::string_view job,
                                         proto::RawJson progress) {
    Worker* w = worker_of(peer_id);
    if (w == nullptr) {
        return not_assigned(job, false);
    }
    auto it = w->held.find(std::string(job));
    if (it == w->held.end()) {
        // Told to stop, its slot stays taken until done or fail.
        return not_assigned(job, w->stopping.contains(std::string(job)));
    }
    const Held& held = runs_.at(it->second);
    events_.progress(held.seq, held.attempt, std::move(progress));
    return {};
}

void RemotePool::connection_closed(std::uint64_t peer_id) {
    asio::post(io_, [this, peer_id] {
        if (workers_.contains(peer_id)) {
            lose(peer_id, "disconnected");
        }
    });
}

void RemotePool::lose(std::uint64_t peer_id, const std::string& why) {
    auto it = workers_.find(peer_id);
    if (it == workers_.end()) {
        return;
    }
    Worker w = std::move(it->second);
    workers_.erase(it);
    spdlog::info("worker {} ({}) lost: {}; {} job(s) it held end", w.id, w.registration.name, why,
                 w.held.size());
    // Its runs go first: ending one may end others (a bound job's connection
    // closing), whose stop must find nothing left of this worker's.
    std::vector<Held> ended;
    for (const auto& [job, handle] : w.held) {
        ended.push_back(runs_.extract(handle).mapped());
    }
    for (const auto& [job, handle] : w.stopping) {
        runs_.erase(handle);
    }
    for (const auto& held : ended) {
        events_.finished({held.seq, held.attempt,
                          proto::JobError{proto::JobErrorCode::worker_lost,
                                          "worker " + w.registration.name + " " + why}});
    }
    if (auto peer = w.peer.lock()) {
        peer->close_after_flush();
    }
}

std::size_t RemotePool::workers_serving(std::string_view task) const {
    return static_cast<std::size_t>(std::count_if(workers_.begin(), workers_.end(), [&](auto& kv) {
        const auto& tasks = kv.second.registration.tasks;
        return std::find(tasks.begin(), tasks.end(), task) != tasks.end();
    }));
}

nlohmann::json RemotePool::workers_json() const {
    auto out = nlohmann::json::array();
    for (const auto& [peer_id, w] : workers_) {
        const auto& r = w.registration;
        out.push_back({{"id", w.id},
                       {"name", r.name},
                       {"addr", r.addr},
                       {"tasks", r.tasks},
                       {"capacity", r.capacity},
                       {"busy", w.slots_taken()},
                       {"done", w.done},
                       {"state", w.quiet                ? "quiet"
                                 : w.slots_taken() == 0 ? "idle"
                                                        : "busy"},
                       {"connected_at", proto::format_timestamp(w.connected_at)}});
    }
    return out;
}

std::size_t RemotePool::size() const {
    std::size_t slots = 0;
    for (const auto& [id, w] : workers_) {
        slots += static_cast<std::size_t>(w.registration.capacity);
    }
    return slots;
}

std::size_t RemotePool::busy() const {
    std::size_t busy = 0;
    for (const auto& [id, w] : workers_) {
        busy += w.slots_taken();
    }
    return busy;
}

bool RemotePool::can_take() const {
    return std::any_of(workers_.begin(), workers_.end(),
                       [this](const auto& kv) { return has_room(kv.second); });
}

std::optional<std::vector<std::string_view>> RemotePool::tasks_with_room() const {
    std::vector<std::string_view> tasks;
    for (const auto& [id, w] : workers_) {
        if (!has_room(w)) {
            continue;
        }
        for (const auto& task : w.registration.tasks) {
            if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) {
                tasks.push_back(task);
            }
        }
    }
    return tasks;
}

std::uint64_t RemotePool::start(sched::Run run) {
    // The worker serving the task with the most free slots; of those, the one
    // given a run longest ago.
    Worker* best = nullptr;
    std::uint64_t best_peer = 0;
    for (auto& [peer_id, w] : workers_) {
        const auto& tasks = w.registration.tasks;
        if (!has_room(w) || std::find(tasks.begin(), tasks.end(), run.task->name) == tasks.end()) {
            continue;
        }
        auto free = w.registration.capacity - static_cast<int>(w.slots_taken());
        auto best_free = best == nullptr
                             ? 0
                             : best->registration.capacity - static_cast<int>(best->slots_taken());
        if (best == nullptr || free > best_free ||
            (free == best_free && w.last_assigned < best->last_assigned)) {
            best = &w;
            best_peer = peer_id;
        }
    }
    if (best == nullptr) {
        // The scheduler hands over only runs of tasks with room: not reached. Given
        // back all the same, after this call, as the contract asks.
        asio::post(io_, [events = events_, seq = run.seq, attempt = run.attempt] {
            events.returned(seq, attempt);
        });
        return next_handle_++;
    }
    auto handle = next_handle_++;
    runs_.emplace(handle, Held{run.seq, run.attempt, best_peer, std::nullopt, run.job_id});
    best->held.emplace(run.job_id, handle);
    best->last_assigned = ++assignments_;
    // It begins now, for the scheduler: the worker is sent the job as running.
    events_.started({run.seq, run.attempt, best->info, proto::now_timestamp()});
    if (auto peer = best->peer.lock()) {
        peer->send(assign_event(run));
    }
    return handle;
}

bool RemotePool::stop(std::uint64_t handle, sched::StopReason reason) {
    auto it = runs_.find(handle);
    Worker* w = it == runs_.end() ? nullptr : worker_of(it->second.peer_id);
    if (w == nullptr || it->second.stop_deadline) {
        return false;
    }
    Held& held = it->second;
    held.stop_deadline = Clock::now() + settings_.cancel_grace;
    w->held.erase(held.job);
    w->stopping.emplace(held.job, handle);
    if (auto peer = w->peer.lock()) {
        peer->send(cancel_event(held.job, reason));
    }
    arm_timer();
    return false;  // every run handed over has begun
}

std::vector<sched::WorkerStatus> RemotePool::workers() const {
    std::vector<sched::WorkerStatus> out;
    for (const auto& [id, w] : workers_) {
        out.push_back({0, w.slots_taken() == 0 ? "idle" : "busy", w.done, 0});
    }
    return out;
}

void RemotePool::shutdown() {
    timer_.cancel();
    runs_.clear();
    workers_.clear();
}

void RemotePool::arm_timer() {
    std::optional<Clock::time_point> due;
    auto earliest = [&](Clock::time_point t) { due = due ? std::min(*due, t) : t; };
    for (const auto& [id, w] : workers_) {
        earliest(w.last_heard + heartbeats_missed * settings_.heartbeat);
    }
    for (const auto& [handle, held] : runs_) {
        if (held.stop_deadline) {
            earliest(*held.stop_deadline);
        }
    }
    if (!due || (timer_due_ && *timer_due_ <= *due)) {
        return;  // nothing to watch, or the timer already fires in time
    }
    timer_due_ = due;
    timer_.expires_at(*due);
    timer_.async_wait([this](std::error_code ec) {
        if (!ec) {
            timer_due_.reset();
            check_deadlines();
        }
    });
}

void RemotePool::check_deadlines() {
    auto now = Clock::now();
    std::vector<std::pair<std::uint64_t, std::string>> lost;
    for (const auto& [peer_id, w] : workers_) {
        if (now >= w.last_heard + heartbeats_missed * settings_.heartbeat) {
            lost.emplace_back(peer_id, "silent for three heartbeats");
        }
    }
    for (const auto& [handle, held] : runs_) {
        if (held.stop_deadline && now >= *held.stop_deadline && workers_.contains(held.peer_id) &&
            std::none_of(lost.begin(), lost.end(),
                         [&](const auto& l) { return l.first == held.peer_id; })) {
            lost.emplace_back(held.peer_id, "did not stop a job within workers.cancel_grace_s");
        }
    }
    for (const auto& [peer_id, why] : lost) {
        lose(peer_id, why);
    }
    arm_timer();
}

}  // namespace taskpool::daemon::pools
