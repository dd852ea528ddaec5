#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "daemon/sched/job_observer.hpp"
#include "histogram.hpp"

namespace taskpool::daemon::metrics {

/// What /metrics reports of jobs over time: how long they waited to start and ran,
/// per pool, and how they ended, per task. Told by the scheduler. Thread-safety:
/// io thread.
class JobMetrics final : public sched::JobObserver {
public:
    /// Finished jobs of one task: succeeded, failed, cancelled.
    using EndCounts = std::array<std::uint64_t, 3>;

    void job_started(const proto::Job& job) override;
    void job_finished(const proto::Job& job) override;
    void job_progress(const proto::Job& /*job*/) override {}
    void batch_finished(const std::string&, const proto::BatchEnd&) override {}

    /// From submit to start (each attempt).
    const Histogram& waited(proto::PoolKind pool) const { return waited_[index(pool)]; }
    /// From start to end, of the attempts that ran.
    const Histogram& ran(proto::PoolKind pool) const { return ran_[index(pool)]; }
    const std::map<std::string, EndCounts, std::less<>>& ended() const { return ended_; }

private:
    static std::size_t index(proto::PoolKind pool) { return static_cast<std::size_t>(pool); }

    std::array<Histogram, proto::pool_count> waited_;
    std::array<Histogram, proto::pool_count> ran_;
    std::map<std::string, EndCounts, std::less<>> ended_;
};

}  // namespace taskpool::daemon::metrics
