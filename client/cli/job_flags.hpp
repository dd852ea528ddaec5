#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "proto/request.hpp"

namespace taskpool::cli {

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
    /// --after, --then and --queue to `cmd`.
    void add_to(CLI::App& cmd);
    /// The submit options they set; the rest keep their defaults.
    proto::SubmitOptions options() const;
};

}  // namespace taskpool::cli
