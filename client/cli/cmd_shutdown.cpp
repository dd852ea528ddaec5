#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_shutdown(CLI::App& app, Globals& g) {
    auto now = std::make_shared<bool>(false);
    auto* cmd = app.add_subcommand(
        "shutdown", "Stop the daemon after its jobs finish (--now: cancel them instead)");
    cmd->add_flag("--now", *now, "cancel queued and running jobs rather than finish them");
    cmd->callback([now, &g] {
        auto mode = *now ? proto::ShutdownMode::now : proto::ShutdownMode::drain;
        if (!g.call(proto::ShutdownRequest{mode})) {
            return;
        }
        if (g.json) {
            print_json_line({{"ok", true}, {"mode", *now ? "now" : "drain"}});
        } else {
            std::cout << "taskpoold at " << g.addr << " is shutting down ("
                      << (*now ? "cancelling its jobs" : "finishing its jobs first") << ")\n";
        }
    });
}

}  // namespace taskpool::cli
