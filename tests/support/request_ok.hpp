#pragma once

#include <chrono>

#include <doctest/doctest.h>

#include "line_client.hpp"

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

}  // namespace taskpool::test
