#include <algorithm>
#include <iostream>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

/// One line an event, stamped with when it happened (not when it was printed;
/// a progress has no time of its own).
void print_event(const Event& e) {
    std::string line;
    if (auto job = proto::decode_job(e.body.value("job", nlohmann::json()))) {
        auto at = e.name == "job.started" ? job->started_at : job->finished_at;
        line = proto::format_timestamp(at.value_or(proto::now_timestamp())) + "  " + e.name + "  " +
               job->id + "  " + job->task + "  " + std::string(proto::to_string(job->state));
        if (job->error) {
            line += " (" + std::string(proto::to_string(job->error->code)) + ": " +
                    job->error->message + ")";
        }
    } else if (e.name == "job.progress") {
        line = proto::format_timestamp(proto::now_timestamp()) + "  " + e.name + "  " +
               e.body.value("job", "") + "  " + e.body.value("progress", nlohmann::json()).dump();
    } else if (e.name == "batch.finished") {
        auto at = proto::parse_timestamp(e.body.value("finished_at", ""));
        const auto& counts = e.body.value("counts", nlohmann::json::object());
        line = proto::format_timestamp(at.value_or(proto::now_timestamp())) + "  " + e.name + "  " +
               e.body.value("batch", "") + "  " + std::to_string(counts.value("succeeded", 0)) +
               " succeeded, " + std::to_string(counts.value("failed", 0)) + " failed, " +
               std::to_string(counts.value("cancelled", 0)) + " cancelled";
    } else {
        line = e.name;
    }
    std::cout << line << std::endl;
}

}  // namespace

void setup_watch(CLI::App& app, Globals& g) {
    auto given = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "watch", "Print job events as they happen (of the given jobs until they end, or of all)");
    cmd->add_option("jobs", *given,
                    "job ids or their starts (default: every job, until interrupted)");
    cmd->callback([given, &g] {
        auto client = g.connect();
        if (!client) {
            return;
        }
        std::vector<std::string> ids;
        for (const auto& id : *given) {
            auto full = g.resolve_job(*client, id);
            if (!full) {
                return;
            }
            ids.push_back(std::move(*full));
        }
        proto::SubscribeRequest req;
        if (!ids.empty()) {
            req.jobs = ids;
        }
        if (auto reply = client->call(req); !reply) {
            g.fail(reply.error());
            return;
        }
        std::vector<std::string> open = ids;
        bool any_failed = false;
        while (ids.empty() || !open.empty()) {
            auto event = client->next_event();
            if (!event) {
                g.fail(event.error());
                return;
            }
            if (g.json) {
                print_json_line(event->body);
            } else {
                print_event(*event);
            }
            if (event->name == "job.finished") {
                const auto& job = event->body.at("job");
                std::erase(open, job.value("id", std::string()));
                any_failed |= job.value("state", std::string()) != "succeeded";
            }
        }
        g.exit_code = any_failed ? exit_job_failed : exit_done;
    });
}

}  // namespace taskpool::cli
