#include "job_table.hpp"

#include <algorithm>
#include <iterator>
#include <tuple>

#include "proto/json_size.hpp"

namespace taskpool::daemon::store {
namespace {

/// What a finished job holds beyond its fixed fields.
std::size_t footprint(const JobRecord& r) {
    return sizeof(JobRecord) + r.job.id.size() + r.job.args.text().size() +
           (r.job.result ? r.job.result->text().size() : 0) +
           (r.job.error ? r.job.error->message.size() : 0);
}

}  // namespace

JobRecord& JobTable::insert(JobRecord&& record) {
    auto seq = record.seq;
    auto [it, inserted] = by_seq_.emplace(std::piecewise_construct, std::forward_as_tuple(seq),
                                          std::forward_as_tuple(std::move(record)));
    if (!inserted) {
        return it->second.record;  // a seq is given once: never so
    }
    link(it->second);
    JobRecord& r = it->second.record;
    by_id_.emplace(r.job.id, &r);
    if (r.key) {
        by_key_.emplace(*r.key, &r);
    }
    return r;
}

JobRecord* JobTable::find(std::string_view id) {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
}

JobRecord* JobTable::find_by_seq(std::uint64_t seq) {
    auto it = by_seq_.find(seq);
    return it == by_seq_.end() ? nullptr : &it->second.record;
}

JobRecord* JobTable::find_by_key(std::string_view key) {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : it->second;
}

void JobTable::retain(JobRecord& record, SteadyTime finished) {
    auto bytes = footprint(record);
    retained_bytes_ += bytes;
    finished_.push_back({finished + ttl_, &record, bytes});
}

void JobTable::release(const JobRecord& record) {
    auto it = std::find_if(finished_.rbegin(), finished_.rend(),
                           [&](const Retained& r) { return r.record == &record; });
    if (it != finished_.rend()) {
        retained_bytes_ -= it->bytes;
        finished_.erase(std::next(it).base());
    }
}

void JobTable::evict_expired(SteadyTime now, const std::function<void(const JobRecord&)>& evicted) {
    while (!finished_.empty() && (finished_.front().expires <= now || over_budget())) {
        auto [expires, r, bytes] = finished_.front();
        finished_.pop_front();
        retained_bytes_ -= bytes;
        evicted(*r);
        erase(*r);
    }
}

std::optional<SteadyTime> JobTable::next_eviction() const {
    if (finished_.empty()) {
        return std::nullopt;
    }
    if (over_budget()) {
        return SteadyTime{};
    }
    return finished_.front().expires;
}

void JobTable::erase(const JobRecord& r) {
    if (r.key) {
        by_key_.erase(*r.key);
    }
    by_id_.erase(r.job.id);
    auto it = by_seq_.find(r.seq);
    if (it != by_seq_.end()) {
        unlink(it->second);
        by_seq_.erase(it);  // last: it owns the record
    }
}

void JobTable::link(Entry& e) {
    Entry* newer = nullptr;
    Entry* older = newest_;
    while (older != nullptr && older->record.seq > e.record.seq) {
        newer = older;
        older = older->older;
    }
    e.older = older;
    e.newer = newer;
    if (older != nullptr) {
        older->newer = &e;
    }
    if (newer != nullptr) {
        newer->older = &e;
    } else {
        newest_ = &e;
    }
}

void JobTable::unlink(Entry& e) {
    if (e.older != nullptr) {
        e.older->newer = e.newer;
    }
    if (e.newer != nullptr) {
        e.newer->older = e.older;
    } else {
        newest_ = e.older;
    }
}

}  // namespace taskpool::daemon::store
