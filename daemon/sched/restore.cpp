// Scheduler::restore: the jobs of the journal, taken back after a restart
// (PROTOCOL.md section 4: queued jobs queue again; a job that was running runs
// again if it has retries left, else it is `lost`).
#include <algorithm>

#include "scheduler.hpp"

namespace taskpool::daemon::sched {

using proto::JobError;
using proto::JobErrorCode;
using proto::JobState;

void Scheduler::restore(std::vector<store::StoredJob> jobs) {
    auto now = proto::now_timestamp();
    auto steady_now = std::chrono::steady_clock::now();
    auto ttl = std::chrono::milliseconds(static_cast<std::int64_t>(settings_.result_ttl_s * 1000));
    std::vector<JobRecord*> finished;
    std::vector<JobRecord*> unfinished;
    for (auto& stored : jobs) {
        // Ids and arrival order go on from the newest restored job: none is reused.
        ids_.resume_after(stored.job.id);
        if (stored.job.batch) {
            ids_.resume_after(*stored.job.batch);
        }
        next_seq_ = std::max(next_seq_, stored.seq + 1);
        if (proto::is_final(stored.job.state) && now - *stored.job.finished_at >= ttl) {
            journal_->append(store::write::JobRemoved{stored.seq});
            continue;
        }
        JobRecord record;
        static_cast<store::StoredJob&>(record) = std::move(stored);
        record.task = tasks_.find(record.job.task);
        JobRecord& r = table_.insert(std::move(record));
        (proto::is_final(r.job.state) ? finished : unfinished).push_back(&r);
        if (r.job.batch && !proto::is_final(r.job.state)) {
            ++batches_[*r.job.batch].pending;
        }
    }

    // Retained in finishing order, each for what is left of its time.
    std::sort(finished.begin(), finished.end(), [](const JobRecord* a, const JobRecord* b) {
        return *a->job.finished_at < *b->job.finished_at;
    });
    for (JobRecord* r : finished) {
        table_.retain(*r, steady_now - (now - *r->job.finished_at));
        if (r->job.batch) {
            if (auto it = batches_.find(*r->job.batch); it != batches_.end()) {
                tally(it->second.counts, r->job.state);
            }
        }
    }
    arm_retention_timer();

    for (JobRecord* r : unfinished) {
        bool runnable =
            r->task != nullptr && r->task->runs_on(r->job.pool) && executor(r->job.pool) != nullptr;
        if (!runnable) {
            r->job.error = JobError{JobErrorCode::lost,
                                    "task '" + r->job.task + "' cannot run on this daemon's " +
                                        std::string(to_string(r->job.pool)) + " pool any more"};
            finish(*r, JobState::failed);
        } else if (r->job.state == JobState::queued) {
            enqueue(*r);
        } else if (r->retries_left > 0) {
            fail_attempt(*r, JobError{JobErrorCode::lost, ""});  // queues it again
        } else {
            r->job.error = JobError{JobErrorCode::lost, "it was running when the daemon stopped"};
            finish(*r, JobState::failed);
        }
    }
}

}  // namespace taskpool::daemon::sched
