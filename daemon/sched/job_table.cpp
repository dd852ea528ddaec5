#include "job_table.hpp"

namespace taskpool::daemon::sched {

JobRecord& JobTable::insert(JobRecord record) {
    auto seq = record.seq;
    auto [it, inserted] = by_seq_.emplace(seq, std::move(record));
    JobRecord& r = it->second;
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
    return it == by_seq_.end() ? nullptr : &it->second;
}

JobRecord* JobTable::find_by_key(std::string_view key) {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? nullptr : it->second;
}

void JobTable::retain(JobRecord& record, SteadyTime finished) {
    finished_.emplace_back(finished + ttl_, &record);
}

void JobTable::evict_expired(SteadyTime now, const std::function<void(const JobRecord&)>& evicted) {
    while (!finished_.empty() &&
           (finished_.front().first <= now || finished_.size() > max_retained_)) {
        const JobRecord* r = finished_.front().second;
        finished_.pop_front();
        evicted(*r);
        erase(*r);
    }
}

std::optional<SteadyTime> JobTable::next_eviction() const {
    if (finished_.empty()) {
        return std::nullopt;
    }
    if (finished_.size() > max_retained_) {
        return SteadyTime{};
    }
    return finished_.front().first;
}

void JobTable::erase(const JobRecord& r) {
    if (r.key) {
        by_key_.erase(*r.key);
    }
    by_id_.erase(r.job.id);
    by_seq_.erase(r.seq);  // last: it owns the record
}

}  // namespace taskpool::daemon::sched
