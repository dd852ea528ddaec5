#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_stats(CLI::App& app, Globals& g) {
    auto* cmd = app.add_subcommand("stats", "Show pools, queues and job counts");
    cmd->callback([&g] {
        auto reply = g.call(proto::StatsRequest{});
        if (!reply) {
            return;
        }
        if (g.json) {
            print_json_line(*reply);
            return;
        }
        const auto& s = *reply;
        std::cout << "uptime:       " << s.value("uptime_s", 0.0) << " s\n"
                  << "connections:  " << s.value("connections", 0) << "\n";
        std::vector<std::vector<std::string>> pools = {{"POOL", "SIZE", "BUSY", "QUEUED"}};
        for (const auto& [name, p] : s.at("pools").items()) {
            pools.push_back({name, human_value(p.at("size")), human_value(p.at("busy")),
                             human_value(p.at("queued"))});
        }
        print_table(pools);
        const auto& jobs = s.at("jobs");
        std::cout << "jobs:        ";
        for (const auto* k :
             {"submitted", "queued", "running", "succeeded", "failed", "cancelled"}) {
            std::cout << " " << k << " " << human_value(jobs.at(k));
        }
        std::cout << "\n";
    });
}

}  // namespace taskpool::cli
