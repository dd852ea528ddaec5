#include <limits>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_wait(CLI::App& app, Globals& g) {
    struct Options {
        std::string id;
        std::optional<double> timeout_s;
    };
    auto o = std::make_shared<Options>();
    auto* cmd = app.add_subcommand("wait", "Wait for a job to finish and print its result");
    cmd->add_option("job", o->id, "job id, or its start")->required();
    cmd->add_option("--timeout", o->timeout_s, "give up after this many seconds (exit 4)");
    cmd->callback([o, &g] {
        auto target = g.connect_to_job(o->id);
        if (!target) {
            return;
        }
        auto& [client, id] = *target;
        auto job = client.get(id, o->timeout_s.value_or(std::numeric_limits<double>::infinity()));
        if (!job) {
            g.fail(job.error());
            return;
        }
        print_outcome(*job, g.json);
        g.exit_code = exit_code_for(*job);
    });
}

}  // namespace taskpool::cli
