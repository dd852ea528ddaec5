#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/job.hpp"
#include "proto/request.hpp"

namespace taskpool::daemon::sched {

/// A job as a store keeps it: the wire object, and what the scheduler needs beyond
/// it to run the job again after a restart.
struct StoredJob {
    proto::Job job;
    std::uint64_t seq = 0;  // arrival order: FIFO among equal priorities, list order
    std::optional<double> timeout_s;
    int retries_left = 0;
    std::optional<double> retry_backoff_s;       // the job's own; none: retries.backoff_s
    proto::Boxed<proto::RawJson> then;           // the follow-up to submit when it succeeds
    proto::Boxed<proto::RawJson> batch_then;     // its map's: when the whole batch has
    std::uint32_t batch_size = 0;                // with batch_then: the jobs of its batch
    proto::Boxed<std::string> key;               // idempotency key
    proto::Boxed<proto::CallbackSpec> callback;  // a webhook when it ends
};

/// A job's webhook as stores keep it: `{"url": ..., "events": [...]}`.
std::string callback_text(const proto::CallbackSpec& callback);
proto::CallbackSpec callback_from_text(std::string_view text);

}  // namespace taskpool::daemon::sched
