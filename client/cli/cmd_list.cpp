#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_list(CLI::App& app, Globals& g) {
    struct Options {
        std::optional<std::string> state;
        int limit = proto::ListRequest::default_limit;
        std::optional<std::string> task;
        std::optional<std::string> queue;
        std::optional<std::string> before;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("list", "List jobs, newest first");
    cmd->add_option("--state", o->state, "only jobs in this state")
        ->check(CLI::IsMember(
            {"scheduled", "waiting", "queued", "running", "succeeded", "failed", "cancelled"}));
    cmd->add_option("--limit", o->limit, "at most this many")
        ->check(whole_number(1, proto::ListRequest::max_limit));
    cmd->add_option("--task", o->task, "only jobs of this task");
    cmd->add_option("--queue", o->queue, "only jobs of this named queue");
    cmd->add_option("--before", o->before, "only jobs older than this one (the next page)");
    cmd->callback([o, &g] {
        auto client = g.connect();
        if (!client) {
            return;
        }
        std::optional<proto::JobState> state;
        if (o->state) {
            state = proto::state_from_string(*o->state);
        }
        proto::ListRequest query;
        query.state = state;
        query.limit = o->limit;
        query.task = o->task;
        query.queue = o->queue;
        query.before = o->before;
        auto jobs = client->list(query);
        if (!jobs) {
            g.fail(jobs.error());
            return;
        }
        if (g.json) {
            proto::JsonWriter w;
            w.begin_array();
            for (const auto& job : *jobs) {
                proto::write_job(w, job);
            }
            w.end_array();
            std::cout << std::move(w).take() << "\n";
            return;
        }
        std::vector<std::vector<std::string>> rows = {
            {"ID", "TASK", "STATE", "POOL", "PRIORITY", "ATTEMPTS", "SUBMITTED", "STARTED", "RAN"}};
        for (const auto& job : *jobs) {
            rows.push_back({job.id, job.task, std::string(proto::to_string(job.state)),
                            std::string(proto::to_string(job.pool)), std::to_string(job.priority),
                            std::to_string(job.attempts), proto::format_timestamp(job.submitted_at),
                            job.started_at ? proto::format_timestamp(*job.started_at) : "-",
                            run_time(job)});
        }
        print_table(rows);
    });
}

}  // namespace taskpool::cli
