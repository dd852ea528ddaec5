#include "job_processes.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <memory>
#include <string>

namespace taskpool::daemon::tasks {
namespace {

/// True when /proc/PID/environ holds each of `entries` as a whole NAME=value.
bool environ_has(const char* pid, std::initializer_list<std::string_view> entries) {
    std::string path = std::string("/proc/") + pid + "/environ";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    std::string env;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        env.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    auto holds = [&](std::string_view entry) {
        for (auto at = env.find(entry); at != std::string::npos; at = env.find(entry, at + 1)) {
            bool starts = at == 0 || env[at - 1] == '\0';
            bool ends = at + entry.size() == env.size() || env[at + entry.size()] == '\0';
            if (starts && ends) {
                return true;
            }
        }
        return false;
    };
    return std::all_of(entries.begin(), entries.end(), holds);
}

}  // namespace

int kill_job_processes(std::string_view job_id, int attempt) {
    const std::string job = "TASKPOOL_JOB_ID=" + std::string(job_id);
    const std::string run = "TASKPOOL_ATTEMPT=" + std::to_string(attempt);
    int killed = 0;
    // Again until a pass finds none: one may have forked while the last looked.
    for (int pass = 0; pass < 5; ++pass) {
        std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
        if (!proc) {
            return killed;
        }
        int found = 0;
        while (const dirent* e = ::readdir(proc.get())) {
            if (std::isdigit(static_cast<unsigned char>(e->d_name[0])) != 0 &&
                environ_has(e->d_name, {job, run})) {
                ::kill(static_cast<pid_t>(std::stol(e->d_name)), SIGKILL);
                ++found;
            }
        }
        killed += found;
        if (found == 0) {
            break;
        }
    }
    return killed;
}

}  // namespace taskpool::daemon::tasks
