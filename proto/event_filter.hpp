#pragma once

#include <optional>
#include <string>

#include "job.hpp"

namespace taskpool::proto {

/// What an event stream (`GET /v1/events`, PROTOCOL.md section 8) asks for: the
/// events of the jobs that have every field it gives, and batch.finished only
/// where it gives none.
struct EventFilter {
    std::optional<std::string> job;
    std::optional<std::string> task;
    std::optional<JobState> state;
    std::optional<std::string> queue;

    bool any() const { return job || task || state || queue; }
};

}  // namespace taskpool::proto
