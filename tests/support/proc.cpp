#include "proc.hpp"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>

namespace taskpool::test {

std::vector<ProcInfo> all_processes() {
    std::vector<ProcInfo> out;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::ifstream in(entry.path() / "stat");
        std::string line;
        if (!std::getline(in, line)) {
            continue;
        }
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
        std::ifstream in("/proc/" + std::to_string(p.pid) + "/cmdline");
        std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (p.state != 'Z' && cmdline == wanted) {
            out.push_back(p.pid);
        }
    }
    return out;
}

double cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(in, line);
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
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
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
