#pragma once

#include <sys/types.h>

#include <functional>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

namespace taskpool::daemon::pools {

/// Reaps every child of the daemon: SIGCHLD arrives through a signal_set on the io
/// thread and each wake-up loops waitpid(WNOHANG) until no exited child is left,
/// so no zombie stays behind. Each exit goes to `on_exit(pid, wait status)`.
/// Create it before the first child is spawned. Thread-safety: io thread.
class ChildReaper {
public:
    using OnExit = std::function<void(pid_t pid, int status)>;

    ChildReaper(asio::io_context& io, OnExit on_exit);
    /// Collects what has exited now (also done on every SIGCHLD).
    void reap();
    void stop();

private:
    void wait_signal();

    asio::signal_set signals_;
    OnExit on_exit_;
};

/// "killed by signal 11 (SIGSEGV)" or "exited with status 3".
std::string describe_exit(int status);

}  // namespace taskpool::daemon::pools
