#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_cancel(CLI::App& app, Globals& g) {
    auto given = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("cancel", "Cancel a queued or running job");
    cmd->add_option("job", *given, "job id, or its start")->required();
    cmd->callback([given, &g] {
        auto client = g.connect();
        if (!client) {
            return;
        }
        auto id = g.resolve_job(*client, *given);
        if (!id) {
            return;
        }
        auto job = client->cancel(*id);
        if (!job) {
            g.fail(job.error());
        } else if (g.json) {
            print_outcome(*job, true);
        } else {
            std::cout << "cancelled " << job->id << "\n";
        }
    });
}

}  // namespace taskpool::cli
