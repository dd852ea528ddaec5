#include "daemon_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <doctest/doctest.h>

#include "redis_server.hpp"
#include "wait_for.hpp"

namespace taskpool::test {
namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    for (auto& s : v) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

}  // namespace

std::string binary_path(const std::string& name) {
    if (name == "taskpoold") {
        return TASKPOOLD_PATH;
    }
    return TASKPOOL_CLI_PATH;
}

DaemonProcess::DaemonProcess(Options options) : options_(std::move(options)) {
    // The whole suite runs again with a journal under every daemon, and again with
    // every daemon a node of a cluster of its own on one Redis: a restarted daemon
    // keeps its cluster, as it would keep its journal.
    // A test that sets `store` keeps it; one that sets `cluster` (a null
    // cluster.redis: a case that is not for a cluster) has no cluster made for it.
    const auto& config = options_.config;
    bool own_store = config.contains("store");
    bool own_cluster = config.contains("cluster");
    bool clustered = own_cluster && config["cluster"].value("redis", nlohmann::json()).is_string();
    if (std::getenv("TASKPOOL_TEST_JOURNAL") != nullptr && !own_store && !clustered) {
        options_.config["store"]["path"] = (dir_.path() / "journal.db").string();
    }
    if (std::getenv("TASKPOOL_TEST_CLUSTER") != nullptr && !own_store && !own_cluster) {
        static RedisServer redis;  // one for the test process, its clusters apart by name
        static int clusters = 0;
        options_.config["cluster"] = {
            {"redis", redis.url()},
            {"name", "t" + std::to_string(::getpid()) + "_" + std::to_string(++clusters)}};
    }
    std::ofstream(dir_.path() / "taskpool.json") << options_.config.dump(2);
    start();
}

void DaemonProcess::start() {
    exit_status_.reset();
    port_ = 0;
    auto config_path = dir_.path() / "taskpool.json";
    auto log_path = dir_.path() / "taskpoold.log";

    std::vector<std::string> argv = {binary_path("taskpoold"), "--config", config_path.string(),
                                     "--listen", options_.listen};
    argv.insert(argv.end(), options_.args.begin(), options_.args.end());
    pid_ = ::fork();
    if (pid_ == 0) {
        int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::chdir(dir_.path().c_str());
        if (options_.open_files) {
            rlimit limit{static_cast<rlim_t>(*options_.open_files),
                         static_cast<rlim_t>(*options_.open_files)};
            ::setrlimit(RLIMIT_NOFILE, &limit);
        }
        for (const auto& [k, v] : options_.env) {
            ::setenv(k.c_str(), v.c_str(), 1);
        }
        auto args = c_strings(argv);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    std::regex listening(R"(listening on [^ ]+:(\d+) \()");
    bool ready = wait_for([&] {
        std::smatch m;
        std::string text = log();
        if (std::regex_search(text, m, listening)) {
            port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
            return true;
        }
        return !running();
    });
    if (!ready || port_ == 0) {
        // The port a daemon just killed held may be busy a moment longer.
        if (options_.listen.ends_with(":0") || log().find("in use") == std::string::npos ||
            ++attempt_ > 25) {
            throw std::runtime_error("taskpoold did not start; its log:\n" + log());
        }
        wait_exit(std::chrono::seconds(5));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        start();
    }
}

DaemonProcess::~DaemonProcess() {
    if (running()) {
        signal(SIGTERM);
        if (!wait_exit(std::chrono::seconds(15))) {
            signal(SIGKILL);
            wait_exit(std::chrono::seconds(5));
        }
    }
    if (!options_.expect_errors) {
        std::string text = log();
        // A line logged at level error (text or JSON format), not the word in a message.
        static const std::regex error_line(R"((^|\n)\S+ error |"level":"error")");
        CHECK_MESSAGE(!std::regex_search(text, error_line), "error in the daemon log:\n" << text);
        CHECK_MESSAGE(text.find("Sanitizer") == std::string::npos, "sanitizer report:\n" << text);
        CHECK_MESSAGE(text.find("runtime error") == std::string::npos, "sanitizer report:\n"
                                                                           << text);
    }
}

std::string DaemonProcess::log() const {
    return read_file(dir_.path() / "taskpoold.log");
}

void DaemonProcess::signal(int signo) const {
    ::kill(pid_, signo);
}

bool DaemonProcess::running() {
    if (exit_status_) {
        return false;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
    }
    return true;
}

std::optional<int> DaemonProcess::wait_exit(std::chrono::milliseconds timeout) {
    wait_for([&] { return !running(); }, timeout);
    return exit_status_;
}

CommandResult run_command(const std::vector<std::string>& argv_in,
                          const std::map<std::string, std::string>& env,
                          const std::string& stdin_text) {
    int out_pipe[2];
    int err_pipe[2];
    int in_pipe[2];
    // Close-on-exec: a command another thread starts meanwhile (a worker that runs
    // on) must not keep these open, or this one would never see their end.
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(in_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    std::vector<std::string> argv = argv_in;
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in_pipe[0], 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        for (int fd :
             {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], in_pipe[0], in_pipe[1]}) {
            ::close(fd);
        }
        ::unsetenv("TASKPOOL_ADDR");
        ::unsetenv("TASKPOOL_TOKEN");
        for (const auto& [k, v] : env) {
            ::setenv(k.c_str(), v.c_str(), 1);
        }
        auto args = c_strings(argv);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(in_pipe[0]);
    if (!stdin_text.empty()) {
        (void)!::write(in_pipe[1], stdin_text.data(), stdin_text.size());
    }
    ::close(in_pipe[1]);
    CommandResult result;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[4096];
    while (open_fds > 0) {
        ::poll(fds, 2, 30000);
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP)) != 0) {
                auto n = ::read(fds[i].fd, buf, sizeof buf);
                if (n <= 0) {
                    ::close(fds[i].fd);
                    fds[i].fd = -1;
                    --open_fds;
                } else {
                    (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
                }
            }
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

}  // namespace taskpool::test
