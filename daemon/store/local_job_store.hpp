#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

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
    JobRecord* take_runnable(proto::PoolKind pool, sched::QueueGate& gate) override;
    JobRecord* take_runnable(proto::PoolKind pool, std::span<const std::string_view> tasks,
                             sched::QueueGate& gate) override;
    void withdraw_runnable(const JobRecord& r) override;
    std::size_t runnable(proto::PoolKind pool) const override {
        return runnable_[static_cast<std::size_t>(pool)];
    }
    std::size_t runnable_in(std::string_view queue) const override;
    std::size_t runnable_in(std::string_view queue, proto::PoolKind pool) const override;

    void started(const JobRecord& r) override;
    void requeued(const JobRecord& r) override;
    void returned(const JobRecord& r) override;
    void released(const JobRecord& r) override;
    void retried(JobRecord& r) override;
    void finished(const JobRecord& r, Durable durable) override;

    void queue_set(const proto::QueueSetRequest& set) override;
    void queue_paused(std::string_view queue, bool paused) override;
    void pool_paused(proto::PoolKind pool, bool paused) override;
    void schedule_kept(const proto::ScheduleInfo& schedule) override;
    void schedule_advanced(std::string_view name, proto::Timestamp from,
                           std::optional<proto::Timestamp> next_at) override;
    void schedule_removed(std::string_view name) override;

    void retain(JobRecord& r) override;
    std::optional<SteadyTime> next_expiry() const override { return table_.next_eviction(); }
    void expire(SteadyTime now) override;

    void when_durable(base::Callback<void()> f) override;
    bool durable() const override { return journal_ != nullptr; }
    proto::Error unavailable(std::string_view consequence) const override;

private:
    using Queue = ReadyQueue<JobRecord*>;
    /// The runnable jobs of a pool are split into lanes: by named queue (none for
    /// a job without one), and on the remote pool, whose workers serve some tasks
    /// each, by task too. A take picks the best head among the lanes it may take
    /// from, so a held queue or a task without a worker holds back no other.
    struct LaneKey {
        std::string task;  // on the remote pool; else empty
        std::string queue;
    };
    struct LaneOrder {
        using is_transparent = void;
        template <class A, class B>
        bool operator()(const A& a, const B& b) const {
            return as_views(a) < as_views(b);
        }
        static std::pair<std::string_view, std::string_view> as_views(const auto& lane) {
            return {lane.task, lane.queue};
        }
    };
    struct LaneRef {
        std::string_view task;
        std::string_view queue;
    };
    using Lanes = std::map<LaneKey, Queue, LaneOrder>;
    Queue& lane(const JobRecord& r);
    /// Takes the best job among the lanes of `pool` that `each_lane(visit)` hands
    /// to `visit`, one by one, whose queue `gate` opens.
    template <class EachLane>
    JobRecord* take_best(sched::QueueGate& gate, EachLane&& each_lane);
    void count_runnable(const JobRecord& r, bool one_more);
    /// Makes the records known, then tells `added` which they are.
    void insert(std::span<JobRecord> records, const Added& added);

    Settings settings_;
    Journal* journal_;
    JobTable table_;
    std::array<Lanes, proto::pool_count> lanes_;
    std::array<std::size_t, proto::pool_count> runnable_{};
    std::map<std::string, std::size_t, std::less<>> runnable_in_;  // by named queue
    std::vector<JobRecord*> inserted_;  // the last add()'s, kept for its capacity
    // Jobs appended to the journal and not yet committed, per pool, and their keys.
    std::array<std::size_t, proto::pool_count> adding_{};
    std::unordered_set<std::string> adding_keys_;
};

}  // namespace taskpool::daemon::store
