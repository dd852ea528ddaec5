#include "exit_codes.hpp"
#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_get(CLI::App& app, Globals& g) {
    auto given = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("get", "Show a job");
    cmd->add_option("job", *given, "job id, or its start")->required();
    cmd->callback([given, &g] {
        auto target = g.connect_to_job(*given);
        if (!target) {
            return;
        }
        auto& [client, id] = *target;
        auto job = client.get(id);
        if (!job) {
            g.fail(job.error());
        } else if (g.json) {
            print_outcome(*job, true);
        } else {
            print_job_details(*job);
        }
    });
}

}  // namespace taskpool::cli
