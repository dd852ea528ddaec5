#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/sched/job_record.hpp"

namespace taskpool::daemon::store {

using sched::JobRecord;
using sched::SteadyTime;

/// Every known job by id, by idempotency key and in arrival order, and the retention
/// of finished jobs: each is dropped `ttl` after it finished, or sooner when more
/// than `max_retained` finished jobs, or more than `max_retained_bytes` of their args
/// and results, are kept (oldest first). A record is dropped
/// only so, and retained once, so the retention list holds the records themselves.
/// Not thread-safe: owned by the local job store.
class JobTable {
public:
    JobTable(std::chrono::milliseconds ttl, std::size_t max_retained,
             std::size_t max_retained_bytes = SIZE_MAX)
        : ttl_(ttl), max_retained_(max_retained), max_retained_bytes_(max_retained_bytes) {}

    /// Adds a record; its job.id must be new.
    JobRecord& insert(JobRecord record);
    JobRecord* find(std::string_view id);
    JobRecord* find_by_seq(std::uint64_t seq);
    JobRecord* find_by_key(std::string_view key);

    /// Starts the retention clock of a job that finished at `finished` (in the past
    /// for a job restored from the journal; call once, in finishing order). Evicts nothing:
    /// a caller may still hold the record (evict_expired() does that, when
    /// next_eviction() says).
    void retain(JobRecord& record, SteadyTime finished);
    /// Drops finished jobs whose time is up, and the oldest beyond max_retained or
    /// max_retained_bytes, telling `evicted` of each first.
    void evict_expired(SteadyTime now, const std::function<void(const JobRecord&)>& evicted);
    /// When evict_expired() next has work (a time in the past if it has now).
    std::optional<SteadyTime> next_eviction() const;

    /// Visits jobs newest first until `f` returns false.
    template <class F>
    void newest_first(F&& f) {
        for (auto it = by_seq_.rbegin(); it != by_seq_.rend(); ++it) {
            if (!f(it->second)) {
                return;
            }
        }
    }

    std::size_t size() const { return by_seq_.size(); }
    /// What the finished jobs kept hold: their args and results, about.
    std::size_t retained_bytes() const { return retained_bytes_; }

private:
    void erase(const JobRecord& record);
    bool over_budget() const {
        return finished_.size() > max_retained_ || retained_bytes_ > max_retained_bytes_;
    }

    struct Retained {
        SteadyTime expires;
        const JobRecord* record;
        std::size_t bytes;
    };

    std::map<std::uint64_t, JobRecord> by_seq_;               // node-based: records never move
    std::unordered_map<std::string_view, JobRecord*> by_id_;  // views into job.id
    std::unordered_map<std::string_view, JobRecord*> by_key_;
    std::deque<Retained> finished_;  // in finishing order
    std::chrono::milliseconds ttl_;
    std::size_t max_retained_;
    std::size_t max_retained_bytes_;
    std::size_t retained_bytes_ = 0;
};

}  // namespace taskpool::daemon::store
