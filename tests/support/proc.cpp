#include "proc.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <sstream>
#include <string>

namespace taskpool::test {
namespace {

/// A file of /proc, whole; empty if it cannot be read. A process may end between
/// being listed and being read, and libstdc++'s streams throw on that read error
/// (ESRCH) whatever their exception mask, so the file is read with read(2).
std::string read_proc(const std::string& path) {
    std::string text;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return text;
    }
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

}  // namespace

std::vector<ProcInfo> all_processes() {
    std::vector<ProcInfo> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::string line = read_proc(entry.path() / "stat");
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        auto close = line.rfind(')');
        if (close == std::string::npos) {
            continue;
        }
        std::istringstream rest(line.substr(close + 2));
        ProcInfo p;
        p.pid = std::stoi(name);
        rest >> p.state >> p.ppid >> p.pgid;
        out.push_back(p);
    }
    return out;
}

std::vector<ProcInfo> children_of(pid_t parent) {
    std::vector<ProcInfo> out;
    for (const auto& p : all_processes()) {
        if (p.ppid == parent) {
            out.push_back(p);
        }
    }
    return out;
}

bool alive(pid_t pid) {
    for (const auto& p : all_processes()) {
        if (p.pid == pid) {
            return p.state != 'Z';
        }
    }
    return false;
}

std::vector<pid_t> running(const std::vector<std::string>& argv) {
    std::string wanted;
    for (const auto& a : argv) {
        wanted += a;
        wanted += '\0';
    }
    std::vector<pid_t> out;
    for (const auto& p : all_processes()) {
        if (p.state != 'Z' && read_proc("/proc/" + std::to_string(p.pid) + "/cmdline") == wanted) {
            out.push_back(p.pid);
        }
    }
    return out;
}

double cpu_seconds(pid_t pid) {
    std::string line = read_proc("/proc/" + std::to_string(pid) + "/stat");
    if (line.rfind(')') == std::string::npos) {
        return 0;  // gone
    }
    // After "(comm)": state is field 3; utime and stime are fields 14 and 15.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i < 14; ++i) {
        rest >> field;
    }
    double utime = 0;
    double stime = 0;
    rest >> utime >> stime;
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::size_t rss_bytes(pid_t pid) {
    std::istringstream in(read_proc("/proc/" + std::to_string(pid) + "/status"));
    std::string key;
    while (in >> key) {
        if (key == "VmRSS:") {
            std::size_t kb = 0;
            in >> kb;
            return kb * 1024;
        }
        in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return 0;
}

}  // namespace taskpool::test
