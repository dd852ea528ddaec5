#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "temp_dir.hpp"

namespace taskpool::test {

/// The real taskpoold, started in a fresh temp dir on 127.0.0.1 port 0 with a
/// config file made from `config`. The constructor returns once the daemon has
/// logged the port it listens on. The destructor stops it (SIGTERM, then SIGKILL)
/// and fails the test if its log has an error line or a sanitizer report, unless
/// the test said it expects errors. With TASKPOOL_TEST_JOURNAL set in the
/// environment, a daemon whose config has no `store` gets a journal in its dir.
class DaemonProcess {
public:
    struct Options {
        nlohmann::json config = nlohmann::json::object();
        /// Port 0: the daemon picks one; address() reaches it over loopback.
        std::string listen = "127.0.0.1:0";
        std::vector<std::string> args;
        std::map<std::string, std::string> env;
        bool expect_errors = false;
        /// RLIMIT_NOFILE (soft and hard) to start it with; none: inherited.
        std::optional<int> open_files;
    };

    DaemonProcess() : DaemonProcess(Options{}) {}
    explicit DaemonProcess(Options options);
    ~DaemonProcess();
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;

    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    pid_t pid() const { return pid_; }
    const TempDir& dir() const { return dir_; }
    std::string log() const;

    void signal(int signo) const;
    /// Waits for the daemon to exit; its exit status, or none if it did not in time.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running();

private:
    /// Starts the daemon and waits until it listens; throws if it does not.
    void start();
    TempDir dir_;
    Options options_;
    pid_t pid_ = -1;
    int attempt_ = 0;  // starts on a fixed port that was still busy
    std::uint16_t port_ = 0;
    std::optional<int> exit_status_;
};

/// Path of a built binary ("taskpoold" or "taskpool").
std::string binary_path(const std::string& name);

/// Runs a command (found on PATH) to completion; returns its exit code and what it
/// printed.
struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          const std::string& stdin_text = "");

}  // namespace taskpool::test
