// Scheduler::restore: the jobs a store kept, taken back after a restart
// (PROTOCOL.md section 4: queued jobs queue again; a job that was running runs
// again if it has retries left, else it is `lost`).
#include <algorithm>

#include "daemon/tasks/registry.hpp"
#include "scheduler.hpp"

namespace taskpool::daemon::sched {

using proto::JobError;
using proto::JobErrorCode;
using proto::JobState;

void Scheduler::restore(std::vector<StoredJob> jobs) {
    for (const auto& stored : jobs) {
        // Ids and arrival order go on from the newest restored job: none is reused.
        ids_.resume_after(stored.job.id);
        if (stored.job.batch) {
            ids_.resume_after(*stored.job.batch);
        }
        next_seq_ = std::max(next_seq_, stored.seq + 1);
    }
    std::vector<JobRecord*> unfinished;
    std::vector<JobRecord*> waiting;
    auto kept = store_.restore(std::move(jobs));
    for (JobRecord* r : kept) {
        if (r->job.batch && !proto::is_final(r->job.state)) {
            auto& batch = batches_[*r->job.batch];
            ++batch.pending;
            ++batch.unfinished;
        }
    }
    for (JobRecord* r : kept) {
        r->task = tasks_.find(r->job.task);
        if (r->job.queue) {  // one name for all its jobs, and the queue known again
            r->job.queue = queues_.shared_name(*r->job.queue);
        }
        auto batch = r->job.batch ? batches_.find(*r->job.batch) : batches_.end();
        if (batch != batches_.end() && r->batch_then) {  // its jobs, in item order
            batch->second.then = *r->batch_then;
            batch->second.size = r->batch_size;
            batch->second.jobs.push_back(r->seq);
        }
        if (!proto::is_final(r->job.state)) {
            unfinished.push_back(r);
        } else if (batch != batches_.end()) {
            ++tally(batch->second.end.counts, r->job.state);
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
        } else if (r->job.state == JobState::scheduled) {
            schedule(*r);
        } else if (r->job.state == JobState::waiting) {
            waiting.push_back(r);  // once every job it may wait for is in place
        } else if (r->retries_left > 0) {
            fail_attempt(*r, JobError{JobErrorCode::lost, ""});  // queues it again
        } else {
            r->job.error = JobError{JobErrorCode::lost, "it was running when the daemon stopped"};
            finish(*r, JobState::failed);
        }
    }
    for (JobRecord* r : waiting) {
        wait_for_dependencies(*r);
    }
}

}  // namespace taskpool::daemon::sched
