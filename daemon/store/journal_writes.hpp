#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "daemon/sched/stored_job.hpp"
#include "proto/request.hpp"

namespace taskpool::daemon::store {

/// A webhook delivery that has neither succeeded nor given up.
struct StoredDelivery {
    std::string id;
    std::string url;
    std::string body;
};

/// What ops set of a named queue (PROTOCOL.md 12): the limits they named, over
/// the config's, and its pause.
struct StoredQueue {
    proto::QueueSetRequest limits;
    bool paused = false;
};

/// One change to the journal. Jobs are named by their `seq`.
namespace write {

struct JobAccepted {
    sched::StoredJob job;
};
struct JobStarted {
    std::uint64_t seq;
    int attempts;
    proto::WorkerInfo worker;
    proto::Timestamp started_at;
};
/// A failed attempt that has a retry left: queued again, or scheduled for when
/// its back-off ends.
struct JobRequeued {
    std::uint64_t seq;
    int retries_left;
    std::optional<proto::Timestamp> scheduled_for;
};
/// A job that waited for others (`after`) may run: queued, or scheduled if it is
/// also due later.
struct JobReleased {
    std::uint64_t seq;
};
/// A failed or cancelled job queued again by `retry`.
struct JobRetried {
    std::uint64_t seq;
};
/// A running job stopped by a shutdown, or never taken by its hung worker: queued
/// again, with its attempts as before.
struct JobReturned {
    std::uint64_t seq;
    int attempts;
};
struct JobFinished {
    std::uint64_t seq;
    proto::JobState state;
    proto::Timestamp finished_at;
    std::optional<proto::RawJson> result;
    proto::Boxed<proto::JobError> error;
    proto::Boxed<std::string> then_job;
    proto::Boxed<proto::Error> then_error;
};
/// Its retention ran out.
struct JobRemoved {
    std::uint64_t seq;
};
struct KvChanged {
    std::string key;
    std::optional<std::string> value;  // JSON text; none: the key was removed
};
struct DeliveryAdded {
    StoredDelivery delivery;
};
struct DeliveryEnded {
    std::string id;
};
/// A task that a remote worker serves, new or with a new description.
struct RemoteTaskKnown {
    std::string name;
    std::string description;
};
struct QueueSet {
    proto::QueueSetRequest set;
};
struct QueuePaused {
    std::string queue;
    bool paused;
};
struct PoolPaused {
    proto::PoolKind pool;
    bool paused;
};

/// A schedule set, or given other times: kept whole.
struct ScheduleKept {
    proto::ScheduleInfo schedule;
};
struct ScheduleAdvanced {
    std::string name;
    std::optional<proto::Timestamp> next_at;
};
struct ScheduleRemoved {
    std::string name;
};

}  // namespace write

using Write =
    std::variant<write::JobAccepted, write::JobStarted, write::JobRequeued, write::JobReturned,
                 write::JobReleased, write::JobRetried, write::JobFinished, write::JobRemoved,
                 write::KvChanged, write::DeliveryAdded, write::DeliveryEnded,
                 write::RemoteTaskKnown, write::QueueSet, write::QueuePaused, write::PoolPaused,
                 write::ScheduleKept, write::ScheduleAdvanced, write::ScheduleRemoved>;

}  // namespace taskpool::daemon::store
