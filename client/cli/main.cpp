// taskpool: the command-line client of taskpoold.
#include <cstdlib>
#include <iostream>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "proto/version.hpp"

namespace taskpool::cli {

std::optional<Client> Globals::connect() {
    auto client = Client::connect(addr, token);
    if (!client) {
        fail(client.error());
        return std::nullopt;
    }
    return std::move(*client);
}

void Globals::fail(const ClientError& error) {
    std::string code = error.code ? " (" + std::string(proto::to_string(*error.code)) + ")" : "";
    std::cerr << "taskpool: " << error.message << code << "\n";
    exit_code = exit_code_for(error);
}

std::optional<nlohmann::json> Globals::call(proto::RequestBody request) {
    auto client = connect();
    if (!client) {
        return std::nullopt;
    }
    auto reply = client->call(std::move(request));
    if (!reply) {
        fail(reply.error());
        return std::nullopt;
    }
    reply->erase("id");
    reply->erase("ok");
    return std::move(*reply);
}

}  // namespace taskpool::cli

int main(int argc, char** argv) {
    using namespace taskpool::cli;
    CLI::App app{"taskpool: submit jobs to taskpoold and follow them."};
    app.set_version_flag("--version", std::string(taskpool::proto::product_version));
    app.require_subcommand(1);
    Globals g;
    if (const char* addr = std::getenv("TASKPOOL_ADDR")) {
        g.addr = addr;
    }
    if (const char* token = std::getenv("TASKPOOL_TOKEN")) {
        g.token = token;
    }
    app.add_option("--addr", g.addr, "daemon address, HOST:PORT (env TASKPOOL_ADDR)")
        ->capture_default_str();
    app.add_option("--token", g.token, "token for a daemon that requires one (env TASKPOOL_TOKEN)");
    app.add_flag("--json", g.json, "print JSON for scripts instead of text for people");

    setup_submit(app, g);
    setup_map(app, g);
    setup_get(app, g);
    setup_wait(app, g);
    setup_cancel(app, g);
    setup_list(app, g);
    setup_stats(app, g);
    setup_tasks(app, g);
    setup_watch(app, g);
    setup_ping(app, g);
    setup_resize(app, g);
    setup_shutdown(app, g);
    setup_kv(app, g);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // CLI11's own codes (100+) would collide with ours.
        return app.exit(e) == 0 ? exit_done : exit_usage;
    }
    return g.exit_code;
}
