// taskpoold: flags, config, logging, then run().
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "app.hpp"
#include "base/logging.hpp"
#include "config/config_loader.hpp"
#include "pools/worker_main.hpp"
#include "proto/version.hpp"

namespace {

// Exit codes of the daemon: 0 after a shutdown, 1 when it could not start,
// 2 for a bad command line or config.
constexpr int exit_bad_config = 2;

}  // namespace

int main(int argc, char** argv) {
    using nlohmann::json;
    namespace d = taskpool::daemon;

    CLI::App app{"taskpoold: the taskpool daemon. Runs jobs sent as JSON over TCP."};
    app.set_version_flag("--version", std::string(taskpool::proto::product_version));
    std::optional<std::string> config_file;
    std::optional<std::string> listen;
    std::optional<std::int64_t> threads;
    std::optional<std::int64_t> processes;
    taskpool::daemon::pools::WorkerOptions worker;
    std::optional<int> worker_fd;
    std::optional<std::string> log_level;
    std::optional<std::string> store;
    bool check_config = false;
    bool insecure = false;
    app.add_option("--config", config_file, "config file (JSON); default $TASKPOOL_CONFIG");
    app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)");
    app.add_option("--threads", threads, "threads of the thread pool (0: one per core)");
    app.add_option("--processes", processes, "worker processes (0: one per core)");
    app.add_option("--store", store, "SQLite journal file (store.path): jobs survive a crash");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");
    app.add_flag("--check-config", check_config, "check the config, print it, and exit");
    app.add_flag("--insecure", insecure, "allow a non-loopback listen address without a token");
    // Worker mode: how the daemon starts its worker processes, not for people.
    app.add_option("--worker", worker_fd)->group("");
    app.add_option("--parent", worker.parent)->group("");
    app.add_option("--user", worker.user)->group("");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : exit_bad_config;
    }

    if (worker_fd) {
        worker.channel_fd = *worker_fd;
        return d::pools::worker_main(worker);
    }

    d::ConfigSources sources;
    sources.file = config_file;
    if (listen) {
        sources.flags["listen"] = *listen;
    }
    if (threads) {
        sources.flags["thread_pool"]["size"] = *threads;
    }
    if (processes) {
        sources.flags["process_pool"]["size"] = *processes;
    }
    if (store) {
        sources.flags["store"]["path"] = *store;
    }
    if (log_level) {
        sources.flags["log"]["level"] = *log_level;
    }
    auto config = d::load_config(sources);
    if (!config) {
        std::cerr << "taskpoold: " << config.error().message << "\n";
        return exit_bad_config;
    }
    config->insecure = insecure;
    auto reload = [sources, insecure] {
        auto fresh = d::load_config(sources);
        if (fresh) {
            fresh->insecure = insecure;
        }
        return fresh;
    };
    if (check_config) {
        std::cout << d::config_to_json(*config).dump(2) << "\n";
        return 0;
    }

    std::signal(SIGPIPE, SIG_IGN);
    d::setup_logging(config->log.level, config->log.format);
    return d::run(*config, reload);
}
