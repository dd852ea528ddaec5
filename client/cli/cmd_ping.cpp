#include <chrono>
#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_ping(CLI::App& app, Globals& g) {
    auto* cmd = app.add_subcommand("ping", "Check that the daemon answers");
    cmd->callback([&g] {
        auto client = g.connect();
        if (!client) {
            return;
        }
        auto start = std::chrono::steady_clock::now();
        if (auto pong = client->ping(); !pong) {
            g.fail(pong.error());
            return;
        }
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        const auto& info = client->server_info();
        if (g.json) {
            print_json_line({{"pong", true},
                             {"server", info.value("server", "")},
                             {"version", info.value("version", "")},
                             {"rtt_ms", ms}});
        } else {
            std::cout << "pong from " << info.value("server", "") << " "
                      << info.value("version", "") << " at " << g.addr << " in " << ms << " ms\n";
        }
    });
}

}  // namespace taskpool::cli
