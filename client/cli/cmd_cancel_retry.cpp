#include <functional>
#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

using JobAction = std::function<ClientResult<proto::Job>(Client&, const std::string&)>;

/// A command that does one thing to one job and prints what it did.
void setup_job_action(CLI::App& app, Globals& g, const std::string& name,
                      const std::string& description, JobAction action, std::string done) {
    auto given = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(name, description);
    cmd->add_option("job", *given, "job id, or its start")->required();
    cmd->callback([given, &g, action = std::move(action), done = std::move(done)] {
        auto target = g.connect_to_job(*given);
        if (!target) {
            return;
        }
        auto& [client, id] = *target;
        auto job = action(client, id);
        if (!job) {
            g.fail(job.error());
        } else if (g.json) {
            print_outcome(*job, true);
        } else {
            std::cout << done << " " << job->id << "\n";
        }
    });
}

}  // namespace

void setup_cancel(CLI::App& app, Globals& g) {
    setup_job_action(
        app, g, "cancel", "Cancel a scheduled, queued or running job",
        [](Client& c, const std::string& id) { return c.cancel(id); }, "cancelled");
}

void setup_retry(CLI::App& app, Globals& g) {
    setup_job_action(
        app, g, "retry", "Queue a failed or cancelled job again, under its id",
        [](Client& c, const std::string& id) { return c.retry(id); }, "queued again");
}

}  // namespace taskpool::cli
