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
        auto tls = client->tls_info();
        if (g.json) {
            nlohmann::json out = {{"pong", true},
                                  {"server", info.value("server", "")},
                                  {"version", info.value("version", "")},
                                  {"protocol", info.value("protocol", 0)},
                                  {"rtt_ms", ms}};
            if (tls) {
                out["tls"] = {{"version", tls->version},
                              {"cipher", tls->cipher},
                              {"peer_subject", tls->peer_subject},
                              {"peer_issuer", tls->peer_issuer},
                              {"peer_not_after", tls->peer_not_after}};
            }
            print_json_line(out);
        } else {
            std::cout << "pong from " << info.value("server", "") << " "
                      << info.value("version", "") << " at " << g.addr << " in " << ms << " ms";
            if (tls) {
                std::cout << " over " << tls->version << " (" << tls->peer_subject << ")";
            }
            std::cout << "\n";
        }
    });
}

}  // namespace taskpool::cli
