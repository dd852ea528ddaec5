#pragma once

#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "proto/error.hpp"
#include "request_reader.hpp"

namespace taskpool::daemon::http {

/// An op, as the NDJSON request object the dispatcher decodes.
struct OpCall {
    nlohmann::json request;
};
struct HealthCheck {};
struct MetricsScrape {};
/// Answered at once: an unknown path (404), a method the path does not take (405,
/// with `allow`), a body or query that cannot become a request (400).
struct Refusal {
    int status;
    proto::Error error;
    std::string allow;
};

using Route = std::variant<OpCall, HealthCheck, MetricsScrape, Refusal>;

/// Maps a request to what answers it (PROTOCOL.md section 8). The body moves into
/// the op's request. Query values are JSON where they parse as JSON (`wait=5`,
/// `wait=true`, `limit=10`), strings otherwise, so the decoder names a wrong type.
Route route(Request& request);

/// Every route but /healthz needs the token where the daemon requires one.
bool needs_token(std::string_view target);

}  // namespace taskpool::daemon::http
