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

}  // namespace taskpool::test
