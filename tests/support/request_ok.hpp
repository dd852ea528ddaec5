#pragma once

#include <chrono>

#include <doctest/doctest.h>

#include "line_client.hpp"
#include "proto/job.hpp"

namespace taskpool::test {

/// Sends `request` and returns its reply, which must be ok: the test stops here
/// if it is not, showing the reply.
inline nlohmann::json ok(LineClient& c, const nlohmann::json& request) {
    auto reply = c.request(request, std::chrono::seconds(30));
    REQUIRE_MESSAGE(reply["ok"] == true, reply.dump());
    return reply;
}

/// Submits a job (`fields`, but the op) that must be accepted, and returns it.
inline nlohmann::json submit(LineClient& c, nlohmann::json fields) {
    fields["op"] = "submit";
    return ok(c, fields)["job"];
}

/// The job `id` as `get` answers it, after waiting up to `wait` seconds for its end.
inline nlohmann::json job_of(LineClient& c, const nlohmann::json& id, double wait = 0) {
    nlohmann::json request = {{"op", "get"}, {"job", id}};
    if (wait > 0) {
        request["wait"] = wait;
    }
    return ok(c, request)["job"];
}

/// A reply's timestamp (`submitted_at`, `next_at`, ...) in seconds since the epoch.
inline double seconds_at(const nlohmann::json& time) {
    auto t = proto::parse_timestamp(time.get<std::string>());
    REQUIRE(t.has_value());
    return std::chrono::duration<double>(t->time_since_epoch()).count();
}

/// Sends echo jobs of 16 KiB args in bursts until the daemon counts no more than
/// `connections` connections (it has closed one that did not read what it was
/// sent), or 10,000 jobs went; whether it did.
inline bool submit_until_connections(LineClient& c, int connections) {
    std::string args(16 * 1024, 'x');
    for (int round = 0; round < 200; ++round) {
        std::string burst;
        for (int i = 0; i < 50; ++i) {
            burst +=
                nlohmann::json{{"op", "submit"}, {"task", "echo"}, {"args", args}}.dump() + "\n";
        }
        c.send_raw(burst);
        for (int i = 0; i < 50; ++i) {
            REQUIRE(c.read_reply()["ok"] == true);
        }
        if (c.request({{"op", "stats"}})["connections"] <= connections) {
            return true;
        }
    }
    return false;
}

}  // namespace taskpool::test
