#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "proto/request.hpp"

namespace taskpool::cli {

/// "90", "90s", "5m", "1.5h", "2d": seconds; none if it is not one of these.
std::optional<double> parse_duration(const std::string& text);

/// The flags `submit` and `map` share: where and how each job runs.
struct JobFlags {
    std::optional<std::string> pool;
    int priority = 0;
    std::optional<double> timeout_s;
    int retries = 0;
    std::optional<double> retry_backoff_s;
    std::optional<double> delay_s;
    std::optional<proto::Timestamp> at;
    std::vector<std::string> after;
    std::vector<std::string> then;  // TASK [ARGS]
    std::optional<std::string> queue;

    /// Adds --pool, --priority, --timeout, --retries, --retry-backoff, --delay, --at,
    /// --after, --then and --queue to `cmd`; for the jobs of a schedule, which
    /// recur, not --at or --after.
    void add_to(CLI::App& cmd, bool recurring = false);
    /// The submit options they set; the rest keep their defaults.
    proto::SubmitOptions options() const;
};

}  // namespace taskpool::cli
