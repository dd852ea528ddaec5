#include "child_reaper.hpp"

#include <sys/wait.h>

#include <cstring>
#include <string>

namespace taskpool::daemon::pools {

ChildReaper::ChildReaper(asio::io_context& io, OnExit on_exit)
    : signals_(io, SIGCHLD), on_exit_(std::move(on_exit)) {
    wait_signal();
}

void ChildReaper::wait_signal() {
    signals_.async_wait([this](std::error_code ec, int) {
        if (ec) {
            return;
        }
        reap();
        wait_signal();
    });
}

void ChildReaper::reap() {
    for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;
        }
        on_exit_(pid, status);
    }
}

void ChildReaper::stop() {
    std::error_code ignored;
    signals_.cancel(ignored);
}

std::string describe_exit(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* abbrev = ::sigabbrev_np(sig);
        return "killed by signal " + std::to_string(sig) + " (SIG" +
               (abbrev != nullptr ? abbrev : "?") + ")";
    }
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace taskpool::daemon::pools
