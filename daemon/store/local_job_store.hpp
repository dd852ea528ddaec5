#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <unordered_set>

#include "daemon/sched/job_store.hpp"
#include "job_table.hpp"
#include "journal.hpp"
#include "ready_queue.hpp"

namespace taskpool::daemon::store {

/// The embedded job store: the jobs in memory (a JobTable and a ReadyQueue per
/// pool), and, given a journal, every change appended to it. New jobs become known
/// once the journal has committed them, and an end is durable once committed, so
/// what a client is told survives a kill -9.
class LocalJobStore final : public sched::JobStore {
public:
    struct Settings {
        std::chrono::milliseconds ttl{std::chrono::hours(1)};  // jobs.result_ttl_s
        std::size_t max_retained = 100000;
        std::size_t max_retained_bytes = std::size_t{1} << 30;
    };

    /// `journal`: where changes go; none keeps jobs in memory only.
    LocalJobStore(Settings settings, Journal* journal);

    void add(std::span<JobRecord> records, Added added) override;
    bool adding_key(std::string_view key) const override;
    std::size_t adding(proto::PoolKind pool) const override {
        return adding_[static_cast<std::size_t>(pool)];
    }
    std::vector<JobRecord*> restore(std::vector<sched::StoredJob> jobs) override;

    void lookup(std::span<const std::string> ids, Found found) override;
    void list(const proto::ListRequest& query, Listed listed) override;
    JobRecord* find(std::string_view id) override { return table_.find(id); }
    JobRecord* find_by_seq(std::uint64_t seq) override { return table_.find_by_seq(seq); }
    JobRecord* find_by_key(std::string_view key) override { return table_.find_by_key(key); }
    void newest_first(const std::function<bool(JobRecord&)>& visit) override;

    void make_runnable(JobRecord& r) override;
    JobRecord* take_runnable(proto::PoolKind pool) override;
    JobRecord* take_runnable(proto::PoolKind pool,
                             std::span<const std::string_view> tasks) override;
    void withdraw_runnable(const JobRecord& r) override;
    std::size_t runnable(proto::PoolKind pool) const override {
        return pool == proto::PoolKind::remote ? remote_runnable_ : queue(pool).size();
    }

    void started(const JobRecord& r) override;
    void requeued(const JobRecord& r) override;
    void returned(const JobRecord& r) override;
    void released(const JobRecord& r) override;
    void retried(JobRecord& r) override;
    void finished(const JobRecord& r, Durable durable) override;

    void retain(JobRecord& r) override;
    std::optional<SteadyTime> next_expiry() const override { return table_.next_eviction(); }
    void expire(SteadyTime now) override;

    void when_durable(base::Callback<void()> f) override;
    bool durable() const override { return journal_ != nullptr; }
    proto::Error unavailable(std::string_view consequence) const override;

private:
    using Queue = ReadyQueue<JobRecord*>;
    /// A job's queue: its pool's, or on the remote pool its task's.
    Queue& queue(const JobRecord& r);
    Queue& queue(proto::PoolKind pool) { return queues_[static_cast<std::size_t>(pool)]; }
    const Queue& queue(proto::PoolKind pool) const {
        return queues_[static_cast<std::size_t>(pool)];
    }
    /// Takes the best job of the remote pool's queues that `each_queue(visit)`
    /// hands to `visit`, one by one.
    template <class EachQueue>
    JobRecord* take_best(EachQueue&& each_queue);
    /// Makes the records known, then tells `added` which they are.
    void insert(std::span<JobRecord> records, const Added& added);

    Settings settings_;
    Journal* journal_;
    JobTable table_;
    std::array<Queue, proto::pool_count> queues_;  // the remote pool's unused:
    // remote workers serve some tasks each, so its jobs queue by task.
    std::map<std::string, Queue, std::less<>> remote_queues_;
    std::size_t remote_runnable_ = 0;
    std::vector<JobRecord*> inserted_;  // the last add()'s, kept for its capacity
    // Jobs appended to the journal and not yet committed, per pool, and their keys.
    std::array<std::size_t, proto::pool_count> adding_{};
    std::unordered_set<std::string> adding_keys_;
};

}  // namespace taskpool::daemon::store
