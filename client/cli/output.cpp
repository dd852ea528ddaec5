#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "proto/json_writer.hpp"

namespace taskpool::cli {

std::string human_value(const nlohmann::json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    return proto::json_text(value);
}

std::string run_time(const proto::Job& job) {
    if (!job.started_at) {
        return "-";
    }
    auto ms = (job.finished_at.value_or(proto::now_timestamp()) - *job.started_at).count();
    char text[32];
    if (ms < 1000) {
        std::snprintf(text, sizeof text, "%lldms", static_cast<long long>(ms));
    } else if (ms < 60'000) {
        std::snprintf(text, sizeof text, "%.1fs", static_cast<double>(ms) / 1000);
    } else if (ms < 3'600'000) {
        std::snprintf(text, sizeof text, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                      static_cast<long long>(ms / 1000 % 60));
    } else {
        std::snprintf(text, sizeof text, "%lldh%02lldm", static_cast<long long>(ms / 3'600'000),
                      static_cast<long long>(ms / 60'000 % 60));
    }
    return text;
}

void print_json_line(const nlohmann::json& value) {
    // Flushed: a line of a stream (watch) must reach a pipe as it happens.
    std::cout << proto::json_text(value) << std::endl;
}

void print_job_details(const proto::Job& job) {
    std::vector<std::vector<std::string>> rows = {
        {"id:", job.id},
        {"task:", job.task},
        {"args:", human_value(job.args.parse())},
        {"state:", std::string(proto::to_string(job.state))},
        {"pool:", std::string(proto::to_string(job.pool))},
        {"priority:", std::to_string(job.priority)},
        {"attempts:", std::to_string(job.attempts)},
    };
    if (job.result) {
        rows.push_back({"result:", human_value(job.result->parse())});
    }
    if (job.error) {
        rows.push_back(
            {"error:", std::string(proto::to_string(job.error->code)) + ": " + job.error->message});
    }
    if (job.worker) {
        rows.push_back(
            {"worker:",
             "pid " + std::to_string(job.worker->pid) +
                 (job.worker->thread ? ", thread " + std::to_string(*job.worker->thread) : "")});
    }
    rows.push_back({"submitted:", proto::format_timestamp(job.submitted_at)});
    if (job.scheduled_for) {
        rows.push_back({"due:", proto::format_timestamp(*job.scheduled_for)});
    }
    if (!job.after.empty()) {
        std::string ids;
        for (const auto& id : job.after) {
            ids += (ids.empty() ? "" : " ") + id;
        }
        rows.push_back({"after:", ids});
    }
    if (job.started_at) {
        rows.push_back({"started:", proto::format_timestamp(*job.started_at)});
    }
    if (job.finished_at) {
        rows.push_back({"finished:", proto::format_timestamp(*job.finished_at)});
    }
    for (const auto& row : rows) {
        std::cout << row[0] << std::string(12 - row[0].size(), ' ') << row[1] << "\n";
    }
}

void print_outcome(const proto::Job& job, bool json) {
    if (json) {
        std::cout << proto::encode_job(job) << "\n";
        return;
    }
    switch (job.state) {
        case proto::JobState::succeeded:
            std::cout << human_value(job.result ? job.result->parse() : nullptr) << "\n";
            break;
        case proto::JobState::failed:
        case proto::JobState::cancelled:
            std::cerr << "job " << job.id << " " << proto::to_string(job.state) << ": "
                      << (job.error ? std::string(proto::to_string(job.error->code)) + ": " +
                                          job.error->message
                                    : "no reason given")
                      << "\n";
            break;
        default:
            std::cerr << "job " << job.id << " is still " << proto::to_string(job.state)
                      << " (the wait ran out)\n";
    }
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> widths;
    for (const auto& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths[i] = std::max(widths[i], row[i].size());
        }
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size()) {
                line += std::string(widths[i] - row[i].size() + 2, ' ');
            }
        }
        std::cout << line << "\n";
    }
}

ProgressBar::ProgressBar(std::size_t total) : total_(total), drawn_(started_) {}

void ProgressBar::update(std::size_t done, std::size_t failed) {
    done_ = done;
    failed_ = failed;
    if (Clock::now() - drawn_ >= std::chrono::milliseconds(100)) {
        draw();
    }
}

void ProgressBar::finish() {
    draw();
    std::cerr << "\n";
}

void ProgressBar::draw() {
    constexpr std::size_t width = 30;
    drawn_ = Clock::now();
    double elapsed = std::chrono::duration<double>(drawn_ - started_).count();
    double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    std::size_t filled = total_ == 0 ? width : done_ * width / total_;
    char line[160];
    std::string eta = "--:--";
    if (rate > 0) {
        auto left = static_cast<long>(static_cast<double>(total_ - done_) / rate + 0.5);
        char text[32];
        std::snprintf(text, sizeof text, "%ld:%02ld", left / 60, left % 60);
        eta = text;
    }
    std::snprintf(line, sizeof line, "\r[%s%s] %zu/%zu  %zu failed  %.0f/s  ETA %s \x1b[K",
                  std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), done_,
                  total_, failed_, rate, eta.c_str());
    std::cerr << line << std::flush;
}

}  // namespace taskpool::cli
