// taskpool: the command-line client of taskpoold.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <iostream>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "proto/version.hpp"

namespace taskpool::cli {

ConnectOptions Globals::connect_options() const {
    auto options = connection;
    if (!options.tls && !addr.starts_with("tls://")) {
        // TASKPOOL_CA and the like serve TLS connections; they do not ask for one.
        options.ca_file.clear();
        options.cert_file.clear();
        options.key_file.clear();
    }
    return options;
}

std::optional<Client> Globals::connect() {
    auto client = Client::connect(addr, connect_options());
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

std::optional<std::pair<Client, std::string>> Globals::connect_to_job(const std::string& given) {
    auto client = connect();
    if (!client) {
        return std::nullopt;
    }
    auto id = resolve_job(*client, given);
    if (!id) {
        return std::nullopt;
    }
    return std::pair<Client, std::string>{std::move(*client), std::move(*id)};
}

std::optional<std::string> Globals::resolve_job(Client& client, const std::string& given) {
    constexpr std::string_view id_prefix = "j-";
    constexpr std::size_t id_length = 28;  // "j-" and 26 base32 digits
    // The digits are upper-case base32, whatever case they were typed in.
    std::string id(id_prefix);
    for (char c :
         std::string_view(given).substr(given.starts_with(id_prefix) ? id_prefix.size() : 0)) {
        id += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (id.size() >= id_length) {
        return id;  // a whole id: the daemon says whether it knows it
    }
    proto::ListRequest query;
    query.limit = 2;
    query.prefix = id;
    auto jobs = client.list(query);
    if (!jobs) {
        fail(jobs.error());
        return std::nullopt;
    }
    if (jobs->size() == 1) {
        return jobs->front().id;
    }
    if (jobs->empty()) {
        fail({ClientError::Kind::request, proto::ErrorCode::no_such_job,
              "no job id starts with " + id});
    } else {
        fail({ClientError::Kind::request, proto::ErrorCode::bad_request,
              id + " is the start of more than one job id (" + (*jobs)[0].id + ", " +
                  (*jobs)[1].id + ", ...): give more of it"});
    }
    return std::nullopt;
}

CLI::Validator whole_number(std::int64_t min, std::int64_t max) {
    auto range = std::to_string(min) + " to " + std::to_string(max);
    return CLI::Validator(
        [range, min, max](std::string& text) -> std::string {
            std::int64_t n = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
            if (ec != std::errc() || end != text.data() + text.size() || n < min || n > max) {
                return "must be a whole number from " + range + ", not '" + text + "'";
            }
            return {};
        },
        "INT in " + range);
}

}  // namespace taskpool::cli

namespace {

/// "unknown command 'x'" and the commands there are, for a first word that is none.
int unknown_command(const CLI::App& app, const std::string& word) {
    std::cerr << "taskpool: unknown command '" << word << "'. The commands are:\n";
    for (const auto* cmd : app.get_subcommands([](const CLI::App*) { return true; })) {
        std::cerr << "  " << cmd->get_name()
                  << std::string(10 - std::min<std::size_t>(cmd->get_name().size(), 9), ' ')
                  << cmd->get_description() << "\n";
    }
    std::cerr << "Run 'taskpool COMMAND --help' for a command's options.\n";
    return taskpool::cli::exit_usage;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace taskpool::cli;
    CLI::App app{"taskpool: submit jobs to taskpoold and follow them."};
    app.set_version_flag("--version", "taskpool " + std::string(taskpool::proto::product_version) +
                                          " (protocol " +
                                          std::to_string(taskpool::proto::protocol_version) + ")");
    app.require_subcommand(1);
    // Global options anywhere on the line: `taskpool submit --json echo 1` too.
    app.fallthrough();
    Globals g;
    if (const char* addr = std::getenv("TASKPOOL_ADDR")) {
        g.addr = addr;
    }
    auto& conn = g.connection;
    if (const char* token = std::getenv("TASKPOOL_TOKEN")) {
        conn.token = token;
    }
    for (auto [name, value] :
         {std::pair{"TASKPOOL_CA", &conn.ca_file}, std::pair{"TASKPOOL_CERT", &conn.cert_file},
          std::pair{"TASKPOOL_KEY", &conn.key_file}}) {
        if (const char* text = std::getenv(name)) {
            *value = text;
        }
    }
    app.add_option("--addr", g.addr,
                   "daemon address, HOST:PORT, or tls://HOST:PORT for TLS (env TASKPOOL_ADDR)")
        ->capture_default_str();
    app.add_option("--token", conn.token,
                   "token for a daemon that requires one (env TASKPOOL_TOKEN)");
    app.add_flag("--tls", conn.tls, "connect with TLS, as a tls:// address does");
    // Given on the command line, a CA or a certificate means TLS; from the
    // environment, it serves whenever TLS is on.
    auto means_tls = [&conn](const std::string&) { conn.tls = true; };
    app.add_option("--ca", conn.ca_file,
                   "CA certificates (PEM) to trust for TLS, instead of the system's "
                   "(env TASKPOOL_CA)")
        ->each(means_tls);
    auto* cert_option = app.add_option("--cert", conn.cert_file,
                                       "client certificate (PEM) for a daemon that requires "
                                       "one (env TASKPOOL_CERT)")
                            ->each(means_tls);
    app.add_option("--key", conn.key_file,
                   "the client certificate's key (PEM), if not in its file (env TASKPOOL_KEY)")
        ->needs(cert_option);
    app.add_flag("--json", g.json, "print JSON for scripts instead of text for people");

    setup_submit(app, g);
    setup_map(app, g);
    setup_get(app, g);
    setup_wait(app, g);
    setup_cancel(app, g);
    setup_retry(app, g);
    setup_list(app, g);
    setup_stats(app, g);
    setup_tasks(app, g);
    setup_watch(app, g);
    setup_ping(app, g);
    setup_resize(app, g);
    setup_queue(app, g);
    setup_schedule(app, g);
    setup_pause(app, g);
    setup_shutdown(app, g);
    setup_kv(app, g);
    setup_worker(app, g);

    try {
        // Words after `--` are a command to run (`taskpool worker TASK -- CMD ...`),
        // not arguments of ours.
        auto dashes = std::find_if(argv + 1, argv + argc,
                                   [](const char* a) { return std::string_view(a) == "--"; });
        g.command.assign(dashes + (dashes == argv + argc ? 0 : 1), argv + argc);
        app.parse(static_cast<int>(dashes - argv), argv);
    } catch (const CLI::ParseError& e) {
        if (auto rest = app.remaining();
            app.get_subcommands().empty() && !rest.empty() && !rest.front().starts_with("-")) {
            return unknown_command(app, rest.front());
        }
        // CLI11's own codes (100+) would collide with ours.
        return app.exit(e) == 0 ? exit_done : exit_usage;
    }
    return g.exit_code;
}
