#include <algorithm>
#include <iostream>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

void print_event(const Event& e) {
    auto job = proto::decode_job(e.body.value("job", nlohmann::json()));
    if (!job) {
        std::cout << e.name << "\n";
        return;
    }
    std::string line = proto::format_timestamp(proto::now_timestamp()) + "  " + e.name + "  " +
                       job->id + "  " + job->task + "  " +
                       std::string(proto::to_string(job->state));
    if (job->error) {
        line += " (" + std::string(proto::to_string(job->error->code)) + ": " +
                job->error->message + ")";
    }
    std::cout << line << std::endl;
}

}  // namespace

void setup_watch(CLI::App& app, Globals& g) {
    auto ids = std::make_shared<std::vector<std::string>>();
    auto* cmd = app.add_subcommand(
        "watch", "Print job events as they happen (of the given jobs until they end, or of all)");
    cmd->add_option("jobs", *ids, "job ids (default: every job, until interrupted)");
    cmd->callback([ids, &g] {
        auto client = g.connect();
        if (!client) {
            return;
        }
        proto::SubscribeRequest req;
        if (!ids->empty()) {
            req.jobs = *ids;
        }
        if (auto reply = client->call(req); !reply) {
            g.fail(reply.error());
            return;
        }
        std::vector<std::string> open = *ids;
        bool any_failed = false;
        while (ids->empty() || !open.empty()) {
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
