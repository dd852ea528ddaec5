#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_tasks(CLI::App& app, Globals& g) {
    auto* cmd = app.add_subcommand("tasks", "List the tasks the daemon can run");
    cmd->callback([&g] {
        auto reply = g.call(proto::TasksRequest{});
        if (!reply) {
            return;
        }
        const auto& tasks = reply->at("tasks");
        if (g.json) {
            print_json_line(tasks);
            return;
        }
        std::vector<std::vector<std::string>> rows = {{"NAME", "POOL", "KIND", "DESCRIPTION"}};
        for (const auto& t : tasks) {
            rows.push_back({human_value(t.at("name")), human_value(t.at("pool")),
                            human_value(t.at("kind")), human_value(t.at("description"))});
        }
        print_table(rows);
    });
}

}  // namespace taskpool::cli
