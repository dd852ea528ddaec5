#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace taskpool::daemon::pools {

/// What a worker process is told on its command line.
struct WorkerOptions {
    int channel_fd = 3;
    pid_t parent = 0;
    std::optional<std::string> user;  // drop to this user first
};

/// The body of `taskpoold --worker`: dies with its parent (PR_SET_PDEATHSIG, then a
/// check that the parent is still the one that started it), closes every inherited
/// descriptor but the channel, drops to its user (with no_new_privs), builds its tasks from the
/// setup line the daemon sends first, then runs one job at a time as the channel sends them and
/// writes back each outcome. Returns the exit code when the channel closes.
int worker_main(const WorkerOptions& options);

}  // namespace taskpool::daemon::pools
