#include "output.hpp"

#include <algorithm>
#include <iostream>

namespace taskpool::cli {

std::string human_value(const nlohmann::json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_json_line(const nlohmann::json& value) {
    std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void print_job_details(const proto::Job& job) {
    std::vector<std::vector<std::string>> rows = {
        {"id:", job.id},
        {"task:", job.task},
        {"args:", human_value(*job.args)},
        {"state:", std::string(proto::to_string(job.state))},
        {"pool:", std::string(proto::to_string(job.pool))},
        {"priority:", std::to_string(job.priority)},
        {"attempts:", std::to_string(job.attempts)},
    };
    if (job.result) {
        rows.push_back({"result:", human_value(*job.result)});
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
            std::cout << human_value(job.result.value_or(nullptr)) << "\n";
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

}  // namespace taskpool::cli
