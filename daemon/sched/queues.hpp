#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "job_record.hpp"
#include "job_store.hpp"
#include "proto/queue.hpp"

namespace taskpool::daemon::sched {

/// The named queues (PROTOCOL.md 12): each one's limits and pause, the runs it
/// has started and not ended, and a token bucket for its rate limit. Before a job
/// of a named queue starts, the store asks open(); the scheduler then tells the
/// queue of the start and, later, of its end. Queues are few (a name per kind of
/// work), so they live in a map and are never dropped.
///
/// On the io thread only.
class Queues final : public QueueGate {
public:
    struct Queue {
        proto::Shared<std::string> name;  // what its jobs hold, made once
        proto::QueueLimits limits;
        bool paused = false;
        std::int64_t active = 0;  // runs handed to a pool or running
        double tokens = 0;        // starts its rate limit allows now
        SteadyTime refilled{};
    };

    /// The queue of this name, created without limits if there was none.
    Queue& named(std::string_view name);
    /// Its name as its jobs hold it: creating a queue by naming it in a job.
    const proto::Shared<std::string>& shared_name(std::string_view name) {
        return named(name).name;
    }
    const Queue* find(std::string_view name) const;
    /// Whether a queue of this name is kept, or may be made (at most max_queues).
    bool may_name(std::string_view name) const {
        return find(name) != nullptr || queues_.size() < proto::max_queues;
    }
    /// Sets the limits of a queue, created if new; a new rate starts with a full
    /// bucket, as after a quiet while.
    void set_limits(std::string_view name, proto::QueueLimits limits);
    std::vector<std::string> names() const;

    /// Starts a round of dispatch at `now`: rates are measured against it.
    void begin_round(SteadyTime now);
    /// Whether the queue may start a job now: not paused, below its concurrency,
    /// with a token. A queue held back by its rate is remembered for next_token().
    bool open(std::string_view name) override;
    /// When the first queue held back by its rate this round gets a token again.
    std::optional<SteadyTime> next_token() const { return next_token_; }

    /// A run of the queue was handed to a pool: it takes a token and a slot.
    void started(std::string_view name);
    /// That run ended (or went back to the queue): its slot is free.
    void ended(std::string_view name);

    /// The queue as ops show it: `queued` is what the store holds for it.
    proto::QueueInfo info(std::string_view name, std::uint64_t queued);

private:
    /// Adds the tokens earned since the last refill, up to a full bucket.
    void refill(Queue& q, SteadyTime now) const;

    std::map<std::string, Queue, std::less<>> queues_;
    SteadyTime now_{};
    std::optional<SteadyTime> next_token_;
};

}  // namespace taskpool::daemon::sched
