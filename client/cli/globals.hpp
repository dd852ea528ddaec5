#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "taskpool/client.hpp"

namespace taskpool::cli {

/// Options every command shares, and the exit code the chosen command set.
struct Globals {
    std::string addr = "127.0.0.1:7433";
    /// The token, and TLS: on with --tls, a tls:// address, --ca or --cert.
    ConnectOptions connection;
    bool json = false;
    /// The words after `--` on the command line.
    std::vector<std::string> command;
    int exit_code = 0;

    /// Connects and says hello; on failure prints why and sets exit_code.
    std::optional<Client> connect();
    /// How to connect: `connection`, without the TLS files of the environment
    /// where TLS is off.
    ConnectOptions connect_options() const;
    /// Prints a failed call's reason and sets exit_code from it.
    void fail(const ClientError& error);
    /// Connects, sends one request and returns the reply without `id` and `ok`;
    /// on failure prints why, sets exit_code and returns nothing.
    std::optional<nlohmann::json> call(proto::RequestBody request);
    /// The full id of the one job whose id starts with `given` (with or without
    /// "j-", in any case), as git and docker take a short id; on failure prints
    /// why, sets exit_code and returns nothing.
    std::optional<std::string> resolve_job(Client& client, const std::string& given);
    /// Connects and resolves `given`: the client and the job's full id, or none once
    /// the reason is printed.
    std::optional<std::pair<Client, std::string>> connect_to_job(const std::string& given);
};

/// A check that an option is a whole number from min to max, with a message that
/// says so.
CLI::Validator whole_number(std::int64_t min, std::int64_t max);

// One per command, each in cmd_<name>.cpp: adds the subcommand and its options.
void setup_submit(CLI::App& app, Globals& g);
void setup_get(CLI::App& app, Globals& g);
void setup_wait(CLI::App& app, Globals& g);
void setup_cancel(CLI::App& app, Globals& g);
void setup_retry(CLI::App& app, Globals& g);
void setup_list(CLI::App& app, Globals& g);
void setup_stats(CLI::App& app, Globals& g);
void setup_tasks(CLI::App& app, Globals& g);
void setup_watch(CLI::App& app, Globals& g);
void setup_ping(CLI::App& app, Globals& g);
void setup_resize(CLI::App& app, Globals& g);
void setup_queue(CLI::App& app, Globals& g);
void setup_pause(CLI::App& app, Globals& g);  // and resume
void setup_schedule(CLI::App& app, Globals& g);
void setup_shutdown(CLI::App& app, Globals& g);
void setup_kv(CLI::App& app, Globals& g);
void setup_map(CLI::App& app, Globals& g);
void setup_worker(CLI::App& app, Globals& g);

}  // namespace taskpool::cli
