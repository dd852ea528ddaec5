#pragma once

#include "proto/job.hpp"

namespace taskpool::daemon::sched {

/// Told of every job that starts or ends, on the io thread (events fan-out).
class JobObserver {
public:
    virtual ~JobObserver() = default;
    virtual void job_started(const proto::Job& job) = 0;
    virtual void job_finished(const proto::Job& job) = 0;
};

}  // namespace taskpool::daemon::sched
