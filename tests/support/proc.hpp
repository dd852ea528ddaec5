#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace taskpool::test {

/// A process as /proc/PID/stat shows it.
struct ProcInfo {
    pid_t pid = 0;
    pid_t ppid = 0;
    pid_t pgid = 0;
    char state = '?';  // R, S, D, Z, T, ...
};

/// Every process on the machine (that could be read).
std::vector<ProcInfo> all_processes();
/// The direct children of `parent`.
std::vector<ProcInfo> children_of(pid_t parent);
bool alive(pid_t pid);
/// Live (not zombie) processes whose command line is exactly `argv`.
std::vector<pid_t> running(const std::vector<std::string>& argv);
/// CPU time (user + system) the process has used, in seconds.
double cpu_seconds(pid_t pid);
/// Resident set size (VmRSS), in bytes.
std::size_t rss_bytes(pid_t pid);

}  // namespace taskpool::test
