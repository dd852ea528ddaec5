#pragma once

#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "proto/error.hpp"
#include "proto/event_filter.hpp"
#include "proto/request.hpp"
#include "request_reader.hpp"

namespace taskpool::daemon::http {

/// An op: its name, the request's body (a JSON object's text, the op's fields),
/// and the fields of the query and the path, as an object's text.
struct OpCall {
    std::string op;
    std::string body;
    std::string params;
};
struct HealthCheck {};
struct MetricsScrape {};
/// GET /v1/events: a stream of the events the filter matches.
struct EventStream {
    proto::EventFilter filter;
};
/// GET /ui/...: a file of the dashboard, by name (`index.html` for the page).
struct UiFile {
    std::string name;
};
/// GET /: the dashboard is at /ui/.
struct Redirect {
    std::string location;
};
/// Answered at once: an unknown path (404), a method the path does not take (405,
/// with `allow`), a body or query that cannot become a request (400).
struct Refusal {
    int status;
    proto::Error error;
    std::string allow;
};

using Route =
    std::variant<OpCall, HealthCheck, MetricsScrape, EventStream, UiFile, Redirect, Refusal>;

/// Maps a request to what answers it (PROTOCOL.md section 8). The body moves into
/// the op's request. Query values are JSON where they parse as JSON (`wait=5`,
/// `wait=true`, `limit=10`), strings otherwise, so the decoder names a wrong type.
Route route(Request& request);

/// The request an OpCall makes: the body read in place, the parameters on top.
/// `notify` and `bind` are refused: they need a connection that stays open.
proto::DecodedRequest decode(const OpCall& call);

/// Every route but /healthz and the dashboard's files needs the token where the
/// daemon requires one (the page asks for it, and its calls carry it).
bool needs_token(std::string_view target);

}  // namespace taskpool::daemon::http
