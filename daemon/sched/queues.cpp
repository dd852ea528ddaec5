#include "queues.hpp"

#include <algorithm>
#include <chrono>

namespace taskpool::daemon::sched {
namespace {

using Seconds = std::chrono::duration<double>;

double per_second(const proto::RateLimit& rate) {
    return static_cast<double>(rate.starts) / Seconds(rate.per).count();
}

}  // namespace

Queues::Queue& Queues::named(std::string_view name) {
    auto it = queues_.find(name);
    if (it == queues_.end()) {
        it = queues_.emplace(std::string(name), Queue()).first;
        it->second.name = std::string(name);
    }
    return it->second;
}

const Queues::Queue* Queues::find(std::string_view name) const {
    auto it = queues_.find(name);
    return it == queues_.end() ? nullptr : &it->second;
}

void Queues::set_limits(std::string_view name, proto::QueueLimits limits) {
    Queue& q = named(name);
    bool new_rate = limits.rate_limit && limits.rate_limit != q.limits.rate_limit;
    q.limits = limits;
    if (new_rate) {
        q.tokens = static_cast<double>(limits.rate_limit->starts);
        q.refilled = std::chrono::steady_clock::now();
    }
}

std::vector<std::string> Queues::names() const {
    std::vector<std::string> out;
    out.reserve(queues_.size());
    for (const auto& [name, q] : queues_) {
        out.push_back(name);
    }
    return out;
}

void Queues::begin_round(SteadyTime now) {
    now_ = now;
    next_token_.reset();
}

void Queues::refill(Queue& q, SteadyTime now) const {
    const auto& rate = *q.limits.rate_limit;
    auto full = static_cast<double>(rate.starts);
    if (now > q.refilled) {
        q.tokens = std::min(full, q.tokens + Seconds(now - q.refilled).count() * per_second(rate));
        q.refilled = now;
    }
}

bool Queues::open(std::string_view name) {
    Queue& q = named(name);
    if (q.paused || (q.limits.max_concurrency && q.active >= *q.limits.max_concurrency)) {
        return false;  // a resume or an end dispatches again
    }
    if (!q.limits.rate_limit) {
        return true;
    }
    refill(q, now_);
    if (q.tokens >= 1) {
        return true;
    }
    auto wait = std::chrono::duration_cast<SteadyTime::duration>(
        Seconds((1 - q.tokens) / per_second(*q.limits.rate_limit)));
    auto at = now_ + wait + std::chrono::milliseconds(1);  // past the token, not just short of it
    next_token_ = next_token_ ? std::min(*next_token_, at) : at;
    return false;
}

void Queues::started(std::string_view name) {
    Queue& q = named(name);
    ++q.active;
    if (q.limits.rate_limit) {
        q.tokens -= 1;
    }
}

void Queues::ended(std::string_view name) {
    --named(name).active;
}

proto::QueueInfo Queues::info(std::string_view name, std::uint64_t queued) {
    Queue& q = named(name);
    bool held = q.limits.max_concurrency && q.active >= *q.limits.max_concurrency;
    if (q.limits.rate_limit) {
        refill(q, std::chrono::steady_clock::now());
        held = held || q.tokens < 1;
    }
    return {std::string(name), q.limits, q.paused, queued, static_cast<std::uint64_t>(q.active),
            queued > 0 && held};
}

}  // namespace taskpool::daemon::sched
