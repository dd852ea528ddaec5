#include "routes.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "proto/json_writer.hpp"

namespace taskpool::daemon::http {
namespace {

using nlohmann::json;

struct Target {
    std::string_view path;
    std::string_view query;
};

Target split_target(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos) {
        return {target, {}};
    }
    return {target.substr(0, q), target.substr(q + 1)};
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/// Percent-decoding; `+` is a space in a query. None if an escape is malformed.
std::optional<std::string> decode_component(std::string_view s, bool query) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += query && s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

Refusal bad_request(std::string message) {
    return {400, proto::bad_request(std::move(message)), {}};
}

Refusal not_found(std::string_view path) {
    return {404, {proto::ErrorCode::not_found, "no such path: " + std::string(path)}, {}};
}

Refusal method_not_allowed(const Request& request, std::string_view path, std::string allow) {
    return {
        405,
        proto::bad_request(request.method + " " + std::string(path) + ": this path takes " + allow),
        std::move(allow)};
}

/// The query's parameters as the fields of a JSON object; each must be one of
/// `allowed`. `params` may hold fields already (the job a path names).
std::optional<Refusal> add_query(std::string_view query,
                                 std::initializer_list<std::string_view> allowed, json& params) {
    while (!query.empty()) {
        auto amp = query.find('&');
        auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        auto eq = pair.find('=');
        auto name = decode_component(pair.substr(0, eq), true);
        auto value = decode_component(
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
        if (!name || !value) {
            return bad_request("malformed percent-escape in the query");
        }
        if (std::find(allowed.begin(), allowed.end(), *name) == allowed.end()) {
            return bad_request("unknown query parameter '" + *name + "'");
        }
        // Numbers and booleans are typed by their text; names and ids stay text even
        // where they read as numbers.
        bool typed = *name == "wait" || *name == "limit" || *name == "history";
        auto parsed = typed ? json::parse(*value, nullptr, false) : json(json::value_t::discarded);
        params[*name] = parsed.is_discarded() ? json(*value) : std::move(parsed);
    }
    return std::nullopt;
}

/// An op whose fields are the body's, with the query's on top.
Route op_with_body(Request& request, std::string_view op, std::string_view query,
                   json params = json::object()) {
    if (auto refusal = add_query(query, {"wait"}, params)) {
        return std::move(*refusal);
    }
    return OpCall{std::string(op), std::move(request.body), proto::json_text(params)};
}

/// An op whose fields are the query's and those the path names.
Route op_without_body(std::string_view op, std::string_view query,
                      std::initializer_list<std::string_view> allowed,
                      json params = json::object()) {
    if (auto refusal = add_query(query, allowed, params)) {
        return std::move(*refusal);
    }
    return OpCall{std::string(op), "{}", proto::json_text(params)};
}

/// GET /v1/events?job=&task=&state=&queue=: what the stream is to carry.
Route event_stream(std::string_view query) {
    json params = json::object();
    if (auto refusal = add_query(query, {"job", "task", "state", "queue"}, params)) {
        return std::move(*refusal);
    }
    EventStream stream;
    auto text = [&params](const char* name) -> std::optional<std::string> {
        if (!params.contains(name)) {
            return std::nullopt;
        }
        const auto& value = params[name];
        return value.is_string() ? value.get<std::string>() : value.dump();
    };
    stream.filter.job = text("job");
    stream.filter.task = text("task");
    stream.filter.queue = text("queue");
    if (auto state = text("state")) {
        stream.filter.state = proto::state_from_string(*state);
        if (!stream.filter.state) {
            return bad_request("query parameter 'state': no job state '" + *state + "'");
        }
    }
    return stream;
}

/// The name in `path` between `prefix` and `suffix` ("/v1/queues/" NAME "/pause"),
/// decoded; none when the path is not of that shape or the name holds a slash.
std::optional<std::string> name_in(std::string_view path, std::string_view prefix,
                                   std::string_view suffix = {}) {
    if (!path.starts_with(prefix) || !path.ends_with(suffix) ||
        path.size() <= prefix.size() + suffix.size()) {
        return std::nullopt;
    }
    auto name = decode_component(
        path.substr(prefix.size(), path.size() - prefix.size() - suffix.size()), false);
    if (!name || name->find('/') != std::string::npos) {
        return std::nullopt;
    }
    return name;
}

/// `pause` or `resume` of what `field` names, from POST {prefix}{name}/pause|resume.
std::optional<Route> pause_route(Request& request, std::string_view path, std::string_view query,
                                 std::string_view prefix, std::string_view field) {
    for (std::string_view op : {"pause", "resume"}) {
        auto suffix = "/" + std::string(op);
        if (auto name = name_in(path, prefix, suffix)) {
            return request.method == "POST" ? op_without_body(op, query, {}, json{{field, *name}})
                                            : method_not_allowed(request, path, "POST");
        }
    }
    return std::nullopt;
}

/// The dashboard's own paths: its files load before the page can ask for a token.
bool is_dashboard(std::string_view path) {
    return path == "/" || path == "/ui" || path.starts_with("/ui/");
}

}  // namespace

proto::DecodedRequest decode(const OpCall& call) {
    auto decoded = proto::decode_call(call.op, call.body, call.params);
    if (!decoded.body) {
        return decoded;
    }
    // What lives on a connection has none to live on here.
    const proto::SubmitOptions* options = nullptr;
    if (auto* submit = std::get_if<proto::SubmitRequest>(&decoded.body.value())) {
        options = &submit->options;
    } else if (auto* map = std::get_if<proto::MapRequest>(&decoded.body.value())) {
        options = &map->options;
    }
    for (auto [flag, name] : {std::pair{options != nullptr && options->notify, "notify"},
                              std::pair{options != nullptr && options->bind, "bind"}}) {
        if (flag) {
            decoded.body = proto::bad_request(
                std::string(name) + " needs a connection that stays open: use NDJSON for it");
            break;
        }
    }
    return decoded;
}

bool needs_token(std::string_view target) {
    auto path = split_target(target).path;
    return path != "/healthz" && !is_dashboard(path);
}

Route route(Request& request) {
    auto [path, query] = split_target(request.target);
    const auto& method = request.method;
    // HEAD is answered wherever GET is (RFC 9110 9.3.2); the body is left out later.
    bool get = method == "GET" || method == "HEAD";
    constexpr std::string_view jobs_prefix = "/v1/jobs/";

    if (path == "/healthz") {
        return get ? Route{HealthCheck{}} : method_not_allowed(request, path, "GET, HEAD");
    }
    if (is_dashboard(path)) {
        if (!get) {
            return method_not_allowed(request, path, "GET, HEAD");
        }
        if (path == "/") {
            return Redirect{"/ui/"};
        }
        auto name = path.size() <= 4 ? std::string_view{} : path.substr(4);
        return UiFile{name.empty() ? "index.html" : std::string(name)};
    }
    if (path == "/metrics") {
        return get ? Route{MetricsScrape{}} : method_not_allowed(request, path, "GET, HEAD");
    }
    if (path == "/v1/events") {
        return get ? event_stream(query) : method_not_allowed(request, path, "GET, HEAD");
    }
    if (path == "/v1/jobs") {
        if (method == "POST") {
            return op_with_body(request, "submit", query);
        }
        if (get) {
            return op_without_body(
                "list", query,
                {"state", "limit", "prefix", "contains", "task", "queue", "batch", "before"});
        }
        return method_not_allowed(request, path, "GET, HEAD, POST");
    }
    if (path.starts_with(jobs_prefix) && path.ends_with("/retry")) {
        auto id = name_in(path, jobs_prefix, "/retry");
        if (!id) {
            return not_found(path);
        }
        return method == "POST" ? op_without_body("retry", query, {}, json{{"job", *id}})
                                : method_not_allowed(request, path, "POST");
    }
    if (path.starts_with(jobs_prefix) && path.size() > jobs_prefix.size()) {
        auto id = name_in(path, jobs_prefix);
        if (!id) {
            return not_found(path);
        }
        if (get) {
            return op_without_body("get", query, {"wait"}, json{{"job", *id}});
        }
        if (method == "DELETE") {
            return op_without_body("cancel", query, {}, json{{"job", *id}});
        }
        return method_not_allowed(request, path, "GET, HEAD, DELETE");
    }
    if (path == "/v1/batches") {
        return method == "POST" ? op_with_body(request, "map", query)
                                : method_not_allowed(request, path, "POST");
    }
    if (path == "/v1/queues") {
        return get ? op_without_body("queue.list", query, {})
                   : method_not_allowed(request, path, "GET, HEAD");
    }
    if (auto paused = pause_route(request, path, query, "/v1/queues/", "queue")) {
        return std::move(*paused);
    }
    if (auto paused = pause_route(request, path, query, "/v1/pools/", "pool")) {
        return std::move(*paused);
    }
    if (auto pool = name_in(path, "/v1/pools/")) {
        return method == "PUT" ? op_with_body(request, "resize", query, json{{"pool", *pool}})
                               : method_not_allowed(request, path, "PUT");
    }
    if (auto name = name_in(path, "/v1/queues/")) {
        return method == "PUT" ? op_with_body(request, "queue.set", query, json{{"queue", *name}})
                               : method_not_allowed(request, path, "PUT");
    }
    if (path == "/v1/schedules") {
        return get ? op_without_body("schedule.list", query, {})
                   : method_not_allowed(request, path, "GET, HEAD");
    }
    if (auto name = name_in(path, "/v1/schedules/")) {
        if (method == "PUT") {
            return op_with_body(request, "schedule.set", query, json{{"name", *name}});
        }
        if (method == "DELETE") {
            return op_without_body("schedule.del", query, {}, json{{"name", *name}});
        }
        return method_not_allowed(request, path, "PUT, DELETE");
    }
    if (path == "/v1/stats") {
        return get ? op_without_body("stats", query, {"history"})
                   : method_not_allowed(request, path, "GET, HEAD");
    }
    if (path == "/v1/tasks" || path == "/v1/hello") {
        return get ? op_without_body(path.substr(4), query, {})
                   : method_not_allowed(request, path, "GET, HEAD");
    }
    if (path == "/v1/kv") {
        return get ? op_without_body("kv.list", query, {"prefix", "after", "limit"})
                   : method_not_allowed(request, path, "GET, HEAD");
    }
    return not_found(path);
}

}  // namespace taskpool::daemon::http
