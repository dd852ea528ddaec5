#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
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

    /// Adds a record; its job.id must be new. Records come in arrival order (by
    /// seq), but for one that does not, which is put in its place.
    JobRecord& insert(JobRecord&& record);
    JobRecord* find(std::string_view id);
    JobRecord* find_by_seq(std::uint64_t seq);
    JobRecord* find_by_key(std::string_view key);

    /// Starts the retention clock of a job that finished at `finished` (in the past
    /// for a job restored from the journal; call once, in finishing order). Evicts nothing:
    /// a caller may still hold the record (evict_expired() does that, when
    /// next_eviction() says).
    void retain(JobRecord& record, SteadyTime finished);
    /// Ends the retention of a job that is no longer finished (retried): O(n) in
    /// the jobs retained after it, which a retry, a rare op, can afford.
    void release(const JobRecord& record);
    /// Drops finished jobs whose time is up, and the oldest beyond max_retained or
    /// max_retained_bytes, telling `evicted` of each first.
    void evict_expired(SteadyTime now, const std::function<void(const JobRecord&)>& evicted);
    /// When evict_expired() next has work (a time in the past if it has now).
    std::optional<SteadyTime> next_eviction() const;

    /// Visits jobs newest first until `f` returns false.
    template <class F>
    void newest_first(F&& f) {
        visit_from(newest_, f);
    }
    /// The same, from the job that came before `record`.
    template <class F>
    void older_than(const JobRecord& record, F&& f) {
        auto it = by_seq_.find(record.seq);
        visit_from(it == by_seq_.end() ? nullptr : it->second.older, f);
    }

    std::size_t size() const { return by_seq_.size(); }
    /// What the finished jobs kept hold: their args and results, about.
    std::size_t retained_bytes() const { return retained_bytes_; }

private:
    void erase(const JobRecord& record);
    bool over_budget() const {
        return finished_.size() > max_retained_ || retained_bytes_ > max_retained_bytes_;
    }

    /// A record, and its neighbours in arrival order.
    struct Entry {
        explicit Entry(JobRecord&& r) : record(std::move(r)) {}
        JobRecord record;
        Entry* older = nullptr;
        Entry* newer = nullptr;
    };
    void link(Entry& e);
    void unlink(Entry& e);
    template <class F>
    static void visit_from(Entry* e, F& f) {
        for (; e != nullptr; e = e->older) {
            if (!f(e->record)) {
                return;
            }
        }
    }

    /// Our job ids end in eight digits that differ from one id to the next (random
    /// bits, counting up): those bytes, mixed, spread ids over buckets as well as
    /// hashing all of them does, for a few instructions. Any other string hashes whole.
    struct IdHash {
        std::size_t operator()(std::string_view id) const noexcept {
            constexpr std::size_t tail = 8;
            if (id.size() < tail) {
                return std::hash<std::string_view>{}(id);
            }
            std::uint64_t last = 0;
            std::memcpy(&last, id.data() + id.size() - tail, tail);
            // The last bytes differ most from one id to the next; they are the high
            // ones of `last`, and the fold brings them to the bits a bucket uses.
            std::uint64_t h = (last ^ id.size()) * 0x9E3779B97F4A7C15;
            return static_cast<std::size_t>(h ^ (h >> 32));
        }
    };

    struct Retained {
        SteadyTime expires;
        const JobRecord* record;
        std::size_t bytes;
    };

    // A hash rather than a tree: the pools report runs by seq, two look-ups a job.
    std::unordered_map<std::uint64_t, Entry> by_seq_;  // node-based: records never move
    Entry* newest_ = nullptr;
    std::unordered_map<std::string_view, JobRecord*, IdHash> by_id_;  // views into job.id
    std::unordered_map<std::string_view, JobRecord*> by_key_;
    std::deque<Retained> finished_;  // in finishing order
    std::chrono::milliseconds ttl_;
    std::size_t max_retained_;
    std::size_t max_retained_bytes_;
    std::size_t retained_bytes_ = 0;
};

}  // namespace taskpool::daemon::store
