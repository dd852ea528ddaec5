#include "child_reaper.hpp"

#include <sys/wait.h>

#include <vector>

namespace taskpool::daemon::pools {

ChildReaper::ChildReaper(asio::io_context& io) : signals_(io, SIGCHLD) {
    wait_signal();
}

void ChildReaper::watch(pid_t pid, OnExit on_exit) {
    watched_[pid] = std::move(on_exit);
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
    // Collect first, call after: a callback may start (and watch) a new child.
    std::vector<std::pair<OnExit, int>> exited;
    for (auto it = watched_.begin(); it != watched_.end();) {
        int status = 0;
        if (::waitpid(it->first, &status, WNOHANG) == it->first) {
            exited.emplace_back(std::move(it->second), status);
            it = watched_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto& [on_exit, status] : exited) {
        on_exit(status);
    }
}

void ChildReaper::stop() {
    std::error_code ignored;
    signals_.cancel(ignored);
}

}  // namespace taskpool::daemon::pools
