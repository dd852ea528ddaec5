#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "job.hpp"
#include "raw_json.hpp"
#include "result.hpp"

namespace taskpool::proto {

/// Schedules a daemon keeps at most: its timer looks at each for the earliest.
inline constexpr std::size_t max_schedules = 1000;

/// After the daemon was down: fire once for all that was missed, or skip it.
enum class CatchUp { one, none };

/// A recurring schedule (PROTOCOL.md 13): what `schedule.set` and the config's
/// `schedules` say.
struct ScheduleSpec {
    std::string name;
    std::string task;
    RawJson args;
    std::optional<std::string> cron;  // exactly one of cron and every_s
    std::optional<double> every_s;
    /// Submit options for each job, as their JSON text: those of a job nobody
    /// waits for (not wait, block_s, notify or bind).
    std::optional<RawJson> options;
    CatchUp catch_up = CatchUp::one;
    bool paused = false;
};

/// The spec's fields but its name, as `schedule.set` takes them.
nlohmann::json schedule_fields(const ScheduleSpec& spec);

/// A schedule as `schedule.set` and `schedule.list` answer it.
struct ScheduleInfo {
    ScheduleSpec spec;
    bool from_config = false;          // the config's: change it there
    std::optional<Timestamp> next_at;  // none while paused
    std::optional<Timestamp> last_at;  // when it last fired
    std::optional<std::string> last_job;
};

/// {name, task, args, cron | every_s, options, catch_up, paused, next_at, last_at,
/// last_job, from_config}, times as in a job, null where there is none.
nlohmann::json schedule_json(const ScheduleInfo& schedule);
/// Reads that object (for clients).
Result<ScheduleInfo> decode_schedule_info(const nlohmann::json& j);

}  // namespace taskpool::proto
