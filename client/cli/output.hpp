#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/job.hpp"

namespace taskpool::cli {

/// A job for a person: one "field: value" line each.
void print_job_details(const proto::Job& job);
/// What a finished job gave: its result on stdout, or why it failed on stderr.
/// With `json`, the whole job object as one line instead.
void print_outcome(const proto::Job& job, bool json);
/// Any JSON value as one line, flushed.
void print_json_line(const nlohmann::json& value);
/// Columns padded to their widest cell; the first row is the header.
void print_table(const std::vector<std::vector<std::string>>& rows);
/// A JSON value for a person: strings bare, everything else as compact JSON.
std::string human_value(const nlohmann::json& value);
/// How long a job ran: finished (or, while it runs, now) less started; "-" before
/// it starts. "350ms", "12.4s", "3m07s", "2h05m".
std::string run_time(const proto::Job& job);

/// A one-line progress bar on stderr: done/total, failures, rate and time left.
/// Redrawn at most ten times a second, and once more by finish().
class ProgressBar {
public:
    explicit ProgressBar(std::size_t total);
    void update(std::size_t done, std::size_t failed);
    /// Draws the final state and ends the line.
    void finish();

private:
    void draw();

    using Clock = std::chrono::steady_clock;
    std::size_t total_;
    std::size_t done_ = 0;
    std::size_t failed_ = 0;
    Clock::time_point started_ = Clock::now();
    Clock::time_point drawn_{};
};

}  // namespace taskpool::cli
