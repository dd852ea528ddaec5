#pragma once

#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "daemon_process.hpp"

namespace taskpool::test {

struct CurlResult {
    int status = 0;
    std::string body;
    std::string verbose;  // curl's -v trace
};

/// curl -s with `args`; the status comes from -w, the body from stdout.
inline CurlResult curl(const DaemonProcess& d, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"curl", "-sS", "-v", "-w", "\n%{http_code}"};
    for (const auto& a : args) {
        argv.push_back(a.starts_with("/") ? "http://" + d.address() + a : a);
    }
    auto run = run_command(argv);
    REQUIRE_MESSAGE(run.exit_code == 0, run.err);
    auto last = run.out.rfind('\n');
    return {std::stoi(run.out.substr(last + 1)), run.out.substr(0, last), run.err};
}

inline nlohmann::json body_json(const CurlResult& r) {
    return nlohmann::json::parse(r.body);
}

}  // namespace taskpool::test
