#pragma once

#include <sys/types.h>

#include <functional>
#include <map>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

namespace taskpool::daemon::pools {

/// Reaps the children it is told about: SIGCHLD arrives through a signal_set on
/// the io thread and each wake-up waits (WNOHANG) for every watched pid, so no
/// zombie stays behind. It waits for its own pids only, never for any child: a
/// command task on the thread pool waits for its own child, and must get its
/// exit status. Create it before the first child is spawned.
/// Thread-safety: io thread.
class ChildReaper {
public:
    using OnExit = std::function<void(int wait_status)>;

    explicit ChildReaper(asio::io_context& io);
    /// Calls `on_exit` on the io thread once `pid` has exited and been reaped.
    void watch(pid_t pid, OnExit on_exit);
    /// Collects what has exited now (also done on every SIGCHLD).
    void reap();
    void stop();

private:
    void wait_signal();

    asio::signal_set signals_;
    std::map<pid_t, OnExit> watched_;
};

}  // namespace taskpool::daemon::pools
