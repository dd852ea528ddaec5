#pragma once

#include <string>
#include <string_view>

#include "proto/job.hpp"
#include "proto/reply.hpp"

namespace taskpool::daemon::sched {

/// Told of every job that starts, makes progress or ends, and of every batch that ends, on the io
/// thread (events fan-out).
class JobObserver {
public:
    virtual ~JobObserver() = default;
    virtual void job_started(const proto::Job& job) = 0;
    virtual void job_finished(const proto::Job& job) = 0;
    /// A running job's task told how far it has got (its `progress`).
    virtual void job_progress(const proto::Job& job) = 0;
    /// After the last job of a `map` has finished.
    virtual void batch_finished(const std::string& batch, const proto::BatchEnd& end) = 0;
    /// In cluster mode, where events come back from Redis instead: any node's
    /// event (this one's included), its line as subscribers get it, of kind 'S'
    /// job.started, 'P' job.progress, 'F' job.finished of the job `id`, or 'B'
    /// batch.finished of the batch `id`.
    virtual void relay(char /*kind*/, std::string_view /*id*/, const std::string& /*line*/) {}
};

}  // namespace taskpool::daemon::sched
