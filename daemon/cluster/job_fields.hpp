#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/sched/stored_job.hpp"
#include "proto/result.hpp"
#include "proto/schedule.hpp"
#include "redis_connection.hpp"

namespace taskpool::daemon::cluster {

/// A job as a Redis hash. The fields the scripts read or change have one each
/// (pool, task, queue, batch, key, submitted_by, retries, cancellable, attempts,
/// and what an end adds: finished_at, result, error_code, error_message,
/// progress); what only a node reads is one JSON object, `spec` (id, args,
/// priority, submitted_at, and where the job has them timeout_s,
/// retry_backoff_s, callback, schedule, after, then), and a run's worker another,
/// `worker`. A field a script sets costs Redis an append to the hash and a scan
/// of it, so a job has as few as it can: a default (no retries, not
/// cancellable, no attempt yet) is no field. The scripts own `state`, `score`,
/// `scheduled_for`, `node`, `token`, `held`, `size`, `unmet` and `waited`; these
/// functions append name, value pairs for the rest.
struct JobFields {
    /// What a new job is: everything a node needs to run it. `cancellable`: a
    /// running attempt can be stopped.
    static void submitted(const sched::StoredJob& s, bool cancellable,
                          std::vector<std::string>& out);
    /// What a begun run adds: attempts, and ran()'s.
    static void started(const proto::Job& job, std::vector<std::string>& out);
    /// started_at and worker: written with the end where the start was held back.
    static void ran(const proto::Job& job, std::vector<std::string>& out);
    /// What an end adds: attempts, finished_at, the result or the error, progress.
    static void finished(const proto::Job& job, std::vector<std::string>& out);
};

/// A time as the scripts and the hashes hold it: milliseconds since the epoch.
std::string millis_text(proto::Timestamp t);

/// A number from a hash's text, all of it; false where it is not one.
template <class Number>
bool to_number(std::string_view text, Number& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

/// Job ids as the scripts take them: one string, space-separated.
std::string id_list(const std::vector<std::string>& ids);

/// A job read back from its hash (HGETALL's reply), with its claim's token.
struct ReadJob {
    sched::StoredJob stored;
    std::string token;  // empty: not claimed
};
proto::Result<ReadJob> read_job(const RedisReply& fields);

/// A recurring schedule as a Redis hash: `spec`, the schedule as `schedule.list`
/// shows it (its times aside), and `next`, `last_at` and `last_job`, which the
/// scripts keep.
std::string schedule_spec(const proto::ScheduleInfo& schedule);
proto::Result<proto::ScheduleInfo> read_schedule(const RedisReply& fields);

}  // namespace taskpool::daemon::cluster
