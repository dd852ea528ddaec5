#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "boxed.hpp"
#include "error.hpp"
#include "json_writer.hpp"
#include "raw_json.hpp"
#include "result.hpp"

namespace taskpool::proto {

enum class PoolKind { thread, process, remote };
inline constexpr std::size_t pool_count = 3;
/// `scheduled`: due at a later time (a delay, a back-off between attempts);
/// `waiting`: for the jobs it runs after.
enum class JobState { scheduled, waiting, queued, running, succeeded, failed, cancelled };
inline constexpr std::size_t state_count = 7;

std::string_view to_string(PoolKind pool);
std::string_view to_string(JobState state);
std::optional<PoolKind> pool_from_string(std::string_view s);
std::optional<JobState> state_from_string(std::string_view s);

/// True for succeeded, failed and cancelled: the job will not change again.
constexpr bool is_final(JobState s) {
    return s == JobState::succeeded || s == JobState::failed || s == JobState::cancelled;
}

using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

/// RFC 3339 in UTC with milliseconds: "2026-11-22T10:00:00.123Z" (years 0 to 9999).
using TimestampText = std::array<char, 24>;
TimestampText timestamp_text(Timestamp t);
std::string format_timestamp(Timestamp t);
/// Reads RFC 3339 (any fraction of a second, `Z` or an offset), as a job's times
/// and `run_at` are written.
std::optional<Timestamp> parse_timestamp(std::string_view s);
Timestamp now_timestamp();

/// Where a job runs or ran: the process, and on the thread pool the thread's index;
/// or, for a remote worker, its id and name.
struct WorkerInfo {
    std::int64_t pid = 0;
    std::optional<int> thread;
    std::string id;  // remote workers only: "w-..."
    std::string name;

    friend bool operator==(const WorkerInfo&, const WorkerInfo&) = default;
};

/// The job object of PROTOCOL.md section 4.
struct Job {
    std::string id;
    std::string task;
    RawJson args;
    PoolKind pool = PoolKind::thread;
    int priority = 0;
    JobState state = JobState::queued;
    std::optional<RawJson> result;  // when succeeded
    Boxed<JobError> error;          // when failed or cancelled
    Boxed<RawJson> progress;        // the latest a task reported
    int attempts = 0;
    Shared<WorkerInfo> worker;
    Shared<std::string> node;  // cluster mode: the node that runs or ran it
    Boxed<std::string> batch;
    Shared<std::string> queue;         // the named queue it waits in (PROTOCOL.md 12)
    Shared<std::string> schedule;      // the schedule that submitted it (PROTOCOL.md 13)
    Shared<std::string> submitted_by;  // the name of the token that submitted it
    Timestamp submitted_at{};
    std::optional<Timestamp> scheduled_for;  // when a `scheduled` job is due
    std::vector<std::string> after;          // jobs that must succeed before it runs
    Boxed<std::string> then_job;             // the follow-up its `then` submitted
    Boxed<Error> then_error;                 // why its `then` could not be submitted
    std::optional<Timestamp> started_at;
    std::optional<Timestamp> finished_at;
};

/// Writes the job as one JSON object.
void write_job(JsonWriter& w, const Job& job);
/// The same fields, into an object the caller has begun and will end.
void write_job_fields(JsonWriter& w, const Job& job);
std::string encode_job(const Job& job);

/// Reads a job object as the daemon writes it (for clients).
Result<Job> decode_job(const nlohmann::json& j);

}  // namespace taskpool::proto
