#pragma once

#include "proto/job.hpp"
#include "proto/request.hpp"

namespace taskpool::daemon::sched {

/// Where the scheduler hands a finished job whose submit asked for a `callback`
/// in one of the states it ended in. Called on the io thread; must not block.
class CallbackSink {
public:
    virtual ~CallbackSink() = default;
    virtual void deliver(const proto::CallbackSpec& callback, const proto::Job& job) = 0;
};

}  // namespace taskpool::daemon::sched
