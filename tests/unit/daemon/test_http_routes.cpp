#include "daemon/http/response.hpp"
#include "daemon/http/routes.hpp"

#include <doctest/doctest.h>

#include "daemon/net/protocol_sniffer.hpp"
#include "proto/reply.hpp"

namespace http = taskpool::daemon::http;
using nlohmann::json;

namespace {

http::Route route(std::string method, std::string target, std::string body = {}) {
    http::Request request;
    request.method = std::move(method);
    request.target = std::move(target);
    request.body = std::move(body);
    return http::route(request);
}

/// The request object an op call stands for: its op, the body's fields but `id`,
/// and the parameters on top.
json op_of(const http::Route& r) {
    REQUIRE(std::holds_alternative<http::OpCall>(r));
    const auto& call = std::get<http::OpCall>(r);
    json request = json::parse(call.body);
    request.erase("id");
    request.update(json::parse(call.params));
    request["op"] = call.op;
    return request;
}

/// The status a request is refused with: by its route, or by decoding its call.
int refusal_status(const http::Route& r) {
    if (const auto* call = std::get_if<http::OpCall>(&r)) {
        auto decoded = http::decode(*call);
        REQUIRE_FALSE(decoded.body.ok());
        return http::status_for(decoded.body.error().code);
    }
    REQUIRE(std::holds_alternative<http::Refusal>(r));
    return std::get<http::Refusal>(r).status;
}

}  // namespace

TEST_CASE("http.routes.map_to_the_ndjson_ops") {
    CHECK(op_of(route("POST", "/v1/jobs?wait=5", R"({"task":"echo","args":[1]})")) ==
          json{{"op", "submit"}, {"task", "echo"}, {"args", {1}}, {"wait", 5}});
    CHECK(op_of(route("POST", "/v1/jobs?wait=true", R"({"task":"echo","id":7})")) ==
          json{{"op", "submit"}, {"task", "echo"}, {"wait", true}});
    CHECK(op_of(route("GET", "/v1/jobs/j-1?wait=0.5")) ==
          json{{"op", "get"}, {"job", "j-1"}, {"wait", 0.5}});
    CHECK(op_of(route("DELETE", "/v1/jobs/j%2D1")) == json{{"op", "cancel"}, {"job", "j-1"}});
    CHECK(op_of(route("GET", "/v1/jobs?state=queued&limit=10")) ==
          json{{"op", "list"}, {"state", "queued"}, {"limit", 10}});
    CHECK(op_of(route("POST", "/v1/batches", R"({"task":"echo","items":[1,2]})")) ==
          json{{"op", "map"}, {"task", "echo"}, {"items", {1, 2}}});
    CHECK(op_of(route("GET", "/v1/stats")) == json{{"op", "stats"}});
    CHECK(op_of(route("GET", "/v1/tasks")) == json{{"op", "tasks"}});
    CHECK(std::holds_alternative<http::HealthCheck>(route("GET", "/healthz")));
    CHECK(std::holds_alternative<http::MetricsScrape>(route("GET", "/metrics")));
}

TEST_CASE("http.routes.refusals") {
    CHECK(refusal_status(route("GET", "/nope")) == 404);
    CHECK(refusal_status(route("GET", "/v1/jobs/a/b")) == 404);
    auto wrong_method = route("PUT", "/v1/jobs");
    CHECK(refusal_status(wrong_method) == 405);
    CHECK(std::get<http::Refusal>(wrong_method).allow == "GET, HEAD, POST");
    CHECK(std::holds_alternative<http::OpCall>(route("HEAD", "/v1/jobs")));
    CHECK(refusal_status(route("POST", "/v1/jobs")) == 400);                // no body
    CHECK(refusal_status(route("POST", "/v1/jobs", "[1]")) == 400);         // not an object
    CHECK(refusal_status(route("POST", "/v1/jobs", "{\"task\":")) == 400);  // not JSON
    CHECK(refusal_status(route("GET", "/v1/jobs?color=red")) == 400);
    CHECK(refusal_status(route("GET", "/v1/jobs/j?wait=%zz")) == 400);
    CHECK(refusal_status(route("POST", "/v1/jobs", R"({"task":"echo","notify":true})")) == 400);
    CHECK(refusal_status(route("POST", "/v1/jobs", R"({"task":"echo","bind":true})")) == 400);
}

TEST_CASE("http.routes.only_healthz_and_the_dashboards_files_go_without_a_token") {
    CHECK_FALSE(http::needs_token("/healthz"));
    CHECK_FALSE(http::needs_token("/healthz?verbose=1"));
    for (const char* page : {"/", "/ui", "/ui/", "/ui/app.js"}) {
        CHECK_FALSE(http::needs_token(page));
    }
    CHECK(http::needs_token("/uix"));
    CHECK(http::needs_token("/metrics"));
    CHECK(http::needs_token("/v1/jobs"));
    CHECK(http::needs_token("/v1/kv"));
}

TEST_CASE("http.routes.of_the_dashboard") {
    auto file = [](const http::Route& r) {
        const auto* f = std::get_if<http::UiFile>(&r);
        return f == nullptr ? std::string("-") : f->name;
    };
    CHECK(file(route("GET", "/ui")) == "index.html");
    CHECK(file(route("GET", "/ui/")) == "index.html");
    CHECK(file(route("HEAD", "/ui/app.js?v=1")) == "app.js");
    CHECK(std::get<http::Redirect>(route("GET", "/")).location == "/ui/");
    CHECK(refusal_status(route("POST", "/ui/")) == 405);
    CHECK(op_of(route("GET", "/v1/jobs?task=123&queue=7&batch=b&contains=X&before=j-1")) ==
          json{{"op", "list"},
               {"task", "123"},
               {"queue", "7"},
               {"batch", "b"},
               {"contains", "X"},
               {"before", "j-1"}});
    CHECK(op_of(route("GET", "/v1/stats?history=true")) ==
          json{{"op", "stats"}, {"history", true}});
    CHECK(op_of(route("GET", "/v1/kv?prefix=a&after=a1&limit=5")) ==
          json{{"op", "kv.list"}, {"prefix", "a"}, {"after", "a1"}, {"limit", 5}});
    CHECK(op_of(route("GET", "/v1/hello")) == json{{"op", "hello"}});
    CHECK(op_of(route("PUT", "/v1/pools/thread", R"({"size":3})")) ==
          json{{"op", "resize"}, {"pool", "thread"}, {"size", 3}});
}

TEST_CASE("http.response.from_ndjson_replies") {
    using taskpool::proto::encode_error;
    using taskpool::proto::encode_ok;
    using taskpool::proto::ErrorCode;
    auto ok = http::response_from_reply(encode_ok(std::nullopt, json{{"pong", true}}));
    CHECK(ok.status == 200);
    CHECK(ok.body == "{\"pong\":true}\n");
    auto bare = http::response_from_reply(encode_ok(std::nullopt));
    CHECK(bare.status == 200);
    CHECK(bare.body == "{}\n");
    auto full = http::response_from_reply(
        encode_error(std::nullopt, {ErrorCode::queue_full, "the queue is full"}));
    CHECK(full.status == 429);
    CHECK(json::parse(full.body) ==
          json{{"error", {{"code", "queue_full"}, {"message", "the queue is full"}}}});
    CHECK(http::response_from_reply(encode_error(std::nullopt, {ErrorCode::no_such_job, "x"}))
              .status == 404);
    CHECK(http::response_from_reply(encode_error(std::nullopt, {ErrorCode::not_cancellable, "x"}))
              .status == 409);
    CHECK(http::response_from_reply(encode_error(std::nullopt, {ErrorCode::shutting_down, "x"}))
              .status == 503);
}

TEST_CASE("http.response.renders_headers_and_body") {
    http::Response r(404, "{}\n");
    r.keep_alive = false;
    r.extra_headers = "Allow: GET\r\n";
    CHECK(http::render(r) ==
          "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
          "X-Content-Type-Options: nosniff\r\nContent-Length: 3\r\n"
          "Connection: close\r\nAllow: GET\r\n\r\n{}\n");
}

TEST_CASE("net.protocol_sniffer.tells_http_from_ndjson") {
    using taskpool::daemon::net::sniff_protocol;
    using taskpool::daemon::net::Sniffed;
    CHECK(sniff_protocol("{\"op\":\"ping\"}") == Sniffed::ndjson);
    CHECK(sniff_protocol(" {") == Sniffed::ndjson);
    CHECK(sniff_protocol("GET / HTTP/1.1") == Sniffed::http);
    CHECK(sniff_protocol("POST ") == Sniffed::http);
    CHECK(sniff_protocol("DELETE /v1") == Sniffed::http);
    CHECK(sniff_protocol("P") == Sniffed::undecided);
    CHECK(sniff_protocol("PO") == Sniffed::undecided);
    CHECK(sniff_protocol("GETX") == Sniffed::ndjson);
    CHECK(sniff_protocol("get /") == Sniffed::ndjson);
}
