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

/// A job as a Redis hash, one field per wire field (args, result and progress as
/// their JSON text, untouched), so that the scripts read and change the fields
/// they need (state, attempts, retries, pool, task, batch, key) and a node reads
/// the whole job back with one HGETALL. The scripts own `state`, `seq`, `score`,
/// `scheduled_for`, `node` and `token`; these functions append name, value pairs
/// for the rest.
struct JobFields {
    /// What a new job is: everything a node needs to run it. `cancellable`: a
    /// running attempt can be stopped.
    static void submitted(const sched::StoredJob& s, bool cancellable,
                          std::vector<std::string>& out);
    /// What a begun run adds: attempts, worker, started_at.
    static void started(const proto::Job& job, std::vector<std::string>& out);
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
