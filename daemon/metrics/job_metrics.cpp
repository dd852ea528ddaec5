#include "job_metrics.hpp"

namespace taskpool::daemon::metrics {
namespace {

double seconds_between(proto::Timestamp from, proto::Timestamp to) {
    return std::chrono::duration<double>(to - from).count();
}

}  // namespace

void JobMetrics::job_started(const proto::Job& job) {
    if (job.started_at) {
        waited_[index(job.pool)].observe(seconds_between(job.submitted_at, *job.started_at));
    }
}

void JobMetrics::job_finished(const proto::Job& job) {
    if (job.started_at && job.finished_at) {
        ran_[index(job.pool)].observe(seconds_between(*job.started_at, *job.finished_at));
    }
    auto it = ended_.find(job.task);
    if (it == ended_.end()) {
        it = ended_.emplace(job.task, EndCounts{}).first;
    }
    auto slot = job.state == proto::JobState::succeeded ? 0
                : job.state == proto::JobState::failed  ? 1
                                                        : 2;
    ++it->second[static_cast<std::size_t>(slot)];
}

}  // namespace taskpool::daemon::metrics
