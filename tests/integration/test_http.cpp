// HTTP/1.1 on the NDJSON port (PROTOCOL.md section 8), with the real curl binary for
// the routes and raw sockets for what curl will not send.
#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "../support/curl.hpp"
#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

std::string http_get(const std::string& path, const std::string& extra = {}) {
    return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

}  // namespace

TEST_CASE("http.every_route_with_curl" * doctest::timeout(60)) {
    DaemonProcess d;
    auto submitted =
        curl(d, {"-XPOST", "-d", R"({"task":"echo","args":{"n":1}})", "/v1/jobs?wait=10"});
    CHECK(submitted.status == 200);
    auto job = body_json(submitted)["job"];
    CHECK(job["state"] == "succeeded");
    CHECK(job["result"] == json{{"n", 1}});

    auto got = curl(d, {"/v1/jobs/" + job["id"].get<std::string>()});
    CHECK(got.status == 200);
    CHECK(body_json(got)["job"]["id"] == job["id"]);

    auto queued =
        curl(d, {"-XPOST", "-d", R"({"task":"sleep","args":{"seconds":30}})", "/v1/jobs"});
    CHECK(queued.status == 200);
    auto sleeper = body_json(queued)["job"]["id"].get<std::string>();
    auto waited = curl(d, {"/v1/jobs/" + sleeper + "?wait=0.2"});
    CHECK(waited.status == 200);
    CHECK(body_json(waited)["job"]["state"] == "running");
    auto cancelled = curl(d, {"-XDELETE", "/v1/jobs/" + sleeper});
    CHECK(cancelled.status == 200);
    auto after = curl(d, {"/v1/jobs/" + sleeper + "?wait=5"});
    CHECK(body_json(after)["job"]["state"] == "cancelled");

    auto listed = curl(d, {"/v1/jobs?state=succeeded&limit=10"});
    CHECK(listed.status == 200);
    CHECK(body_json(listed)["jobs"].size() == 1);

    auto batch =
        curl(d, {"-XPOST", "-d", R"({"task":"echo","items":[1,2,3]})", "/v1/batches?wait=10"});
    CHECK(batch.status == 200);
    auto batch_jobs = body_json(batch)["jobs"];
    REQUIRE(batch_jobs.size() == 3);
    CHECK(batch_jobs[2]["result"] == 3);

    auto stats = curl(d, {"/v1/stats"});
    CHECK(stats.status == 200);
    CHECK(body_json(stats)["jobs"]["succeeded"] == 4);
    auto tasks = curl(d, {"/v1/tasks"});
    CHECK(tasks.status == 200);
    CHECK(body_json(tasks)["tasks"].size() > 3);

    auto health = curl(d, {"/healthz"});
    CHECK(health.status == 200);
    CHECK(body_json(health) == json{{"status", "ok"}});

    auto metrics = curl(d, {"/metrics"});
    CHECK(metrics.status == 200);
    CHECK(metrics.verbose.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
    for (const char* line :
         {"taskpool_jobs_finished_total{task=\"echo\",state=\"succeeded\"} 4\n",
          "taskpool_jobs_finished_total{task=\"sleep\",state=\"cancelled\"} 1\n",
          "taskpool_queue_depth{pool=\"thread\"} 0\n", "taskpool_pool_busy{pool=\"thread\"} 0\n",
          "taskpool_job_wait_seconds_count{pool=\"thread\"} 5\n",
          "taskpool_job_run_seconds_bucket{pool=\"thread\",le=\"+Inf\"} 5\n",
          "taskpool_connections 1\n",
          "taskpool_webhook_deliveries_total{outcome=\"delivered\"} 0\n"}) {
        CHECK_MESSAGE(metrics.body.find(line) != std::string::npos, line);
    }
}

TEST_CASE("http.a_body_is_decoded_as_the_line_it_would_be" * doctest::timeout(30)) {
    DaemonProcess d;
    // Of a repeated key the last counts; an integer past 64 bits becomes a double;
    // `wait` comes from the query.
    auto submitted = curl(d, {"-XPOST", "-d",
                              R"({"task":"nope","args":{"n":123456789012345678901234567890},)"
                              R"("task":"echo"})",
                              "/v1/jobs?wait=10"});
    CHECK(submitted.status == 200);
    auto job = body_json(submitted)["job"];
    CHECK(job["state"] == "succeeded");
    CHECK(job["result"]["n"].is_number_float());
    CHECK(job["result"]["n"].get<double>() == doctest::Approx(1.2345678901234568e29));

    auto unknown = curl(d, {"-XPOST", "-d", R"({"task":"echo","colour":"red"})", "/v1/jobs"});
    CHECK(unknown.status == 400);
    CHECK(body_json(unknown)["error"]["message"] == "unknown field 'colour'");
}

TEST_CASE("http.error_statuses_with_curl" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"thread_pool", {{"size", 1}}},
                                {"queue", {{"max_size", 1}}},
                                {"limits", {{"max_message_bytes", 4096}}}}});
    auto code_of = [](const CurlResult& r) { return body_json(r)["error"]["code"]; };

    auto bad = curl(d, {"-XPOST", "-d", R"({"task":"echo","nope":1})", "/v1/jobs"});
    CHECK(bad.status == 400);
    CHECK(code_of(bad) == "bad_request");
    CHECK(curl(d, {"-XPOST", "-d", "not json", "/v1/jobs"}).status == 400);
    auto no_task = curl(d, {"-XPOST", "-d", R"({"task":"nope"})", "/v1/jobs"});
    CHECK(no_task.status == 404);
    CHECK(code_of(no_task) == "no_such_task");
    CHECK(code_of(curl(d, {"/v1/jobs/j-nope"})) == "no_such_job");
    auto no_path = curl(d, {"/v2/everything"});
    CHECK(no_path.status == 404);
    CHECK(code_of(no_path) == "not_found");
    auto wrong_method = curl(d, {"-XPUT", "/v1/stats"});
    CHECK(wrong_method.status == 405);
    CHECK(wrong_method.verbose.find("Allow: GET, HEAD") != std::string::npos);

    auto done = body_json(curl(d, {"-XPOST", "-d", R"({"task":"echo"})", "/v1/jobs?wait=10"}));
    auto not_cancellable =
        curl(d, {"-XDELETE", "/v1/jobs/" + done["job"]["id"].get<std::string>()});
    CHECK(not_cancellable.status == 409);
    CHECK(code_of(not_cancellable) == "not_cancellable");

    auto too_large = curl(d, {"-XPOST", "-d", std::string(5000, ' ') + "{}", "/v1/jobs"});
    CHECK(too_large.status == 413);
    CHECK(code_of(too_large) == "message_too_large");

    curl(d, {"-XPOST", "-d", R"({"task":"sleep","args":{"seconds":30}})", "/v1/jobs"});
    REQUIRE(wait_for([&] { return body_json(curl(d, {"/v1/stats"}))["jobs"]["running"] == 1; }));
    curl(d, {"-XPOST", "-d", R"({"task":"echo"})", "/v1/jobs"});
    auto full = curl(d, {"-XPOST", "-d", R"({"task":"echo"})", "/v1/jobs"});
    CHECK(full.status == 429);
    CHECK(code_of(full) == "queue_full");
    CHECK(full.verbose.find("Retry-After: 1") != std::string::npos);

    // Draining: /healthz turns 503 so a load balancer stops sending, submits get 503.
    d.signal(SIGTERM);
    REQUIRE(wait_for([&] { return curl(d, {"/healthz"}).status == 503; }));
    CHECK(body_json(curl(d, {"/healthz"})) == json{{"status", "shutting_down"}});
    auto refused = curl(d, {"-XPOST", "-d", R"({"task":"echo"})", "/v1/jobs"});
    CHECK(refused.status == 503);
    CHECK(code_of(refused) == "shutting_down");
    CHECK(refused.verbose.find("Retry-After: 1") != std::string::npos);
    // The sleeper would hold the drain for its 30 s.
    auto running = body_json(curl(d, {"/v1/jobs?state=running"}));
    for (const auto& j : running["jobs"]) {
        CHECK(curl(d, {"-XDELETE", "/v1/jobs/" + j["id"].get<std::string>()}).status == 200);
    }
    CHECK(d.wait_exit(std::chrono::seconds(20)) == 0);
}

TEST_CASE("http.head_is_answered_wherever_get_is" * doctest::timeout(30)) {
    DaemonProcess d;
    for (const char* path : {"/healthz", "/metrics", "/v1/stats", "/v1/tasks", "/v1/jobs"}) {
        CAPTURE(path);
        auto get = curl(d, {path});
        auto head = curl(d, {"-I", path});
        CHECK(head.status == 200);
        CHECK(head.verbose.find("Content-Length: ") != std::string::npos);
        CHECK(head.body.find('{') == std::string::npos);  // headers only, no body
    }
    CHECK(curl(d, {"-I", "/v1/jobs/j-nope"}).status == 404);
    // On one connection: the answer to HEAD has no body, so the next answer parses.
    LineClient c(d.port());
    c.send_raw("HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n" + http_get("/healthz"));
    std::vector<std::string> lines;
    while (auto line = c.read_line()) {
        if (!line->empty() && line->back() == '\r') {
            line->pop_back();
        }
        lines.push_back(*line);
        if (line->starts_with("{")) {
            break;
        }
    }
    REQUIRE(lines.size() > 2);
    CHECK(lines.front() == "HTTP/1.1 200 OK");
    auto second = std::find(lines.begin() + 1, lines.end(), "HTTP/1.1 200 OK");
    REQUIRE(second != lines.end());
    CHECK(std::find(lines.begin(), second, "") == second - 1);  // the blank line, then the next
    CHECK(lines.back() == R"({"status":"ok"})");
}

TEST_CASE("http.bearer_token" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"auth", {{"token", "s3cret"}}}}});
    auto missing = curl(d, {"/v1/stats"});
    CHECK(missing.status == 401);
    CHECK(body_json(missing)["error"]["code"] == "unauthorized");
    CHECK(missing.verbose.find("WWW-Authenticate: Bearer") != std::string::npos);
    CHECK(curl(d, {"-H", "Authorization: Bearer wrong", "/v1/stats"}).status == 401);
    CHECK(curl(d, {"-H", "Authorization: Bearer s3cret", "/v1/stats"}).status == 200);
    CHECK(curl(d, {"-H", "Authorization: bearer s3cret", "/v1/stats"}).status == 200);
    CHECK(curl(d, {"-H", "Authorization: BEARER s3cret", "/v1/stats"}).status == 200);
    CHECK(curl(d, {"-H", "Authorization: Bearer s3cret", "/metrics"}).status == 200);
    CHECK(curl(d, {"/metrics"}).status == 401);
    CHECK(curl(d, {"/healthz"}).status == 200);  // probes carry no secrets
}

TEST_CASE("http.scoped_tokens_get_403_outside_their_scopes" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"auth",
                                 {{"tokens",
                                   {{{"name", "reader"}, {"token", "r"}, {"scopes", {"read"}}},
                                    {{"name", "keeper"}, {"token", "k"}, {"scopes", {"kv"}}}}}}}}});
    auto as = [](const std::string& token) { return "Authorization: Bearer " + token; };
    CHECK(curl(d, {"-H", as("r"), "/v1/stats"}).status == 200);
    CHECK(curl(d, {"-H", as("r"), "/metrics"}).status == 200);
    auto submit = curl(d, {"-H", as("r"), "-XPOST", "-d", R"({"task":"echo"})", "/v1/jobs"});
    CHECK(submit.status == 403);
    CHECK(body_json(submit)["error"]["code"] == "forbidden");
    CHECK(body_json(submit)["error"]["message"] ==
          "the token 'reader' may not use 'submit': that needs the submit scope, and it has read");
    auto metrics = curl(d, {"-H", as("k"), "/metrics"});
    CHECK(metrics.status == 403);
    CHECK(body_json(metrics)["error"]["code"] == "forbidden");
    CHECK(curl(d, {"-H", as("k"), "/v1/stats"}).status == 403);
    CHECK(curl(d, {"-H", as("nope"), "/v1/stats"}).status == 401);

    // Each request on a connection is answered with what its own token may do.
    LineClient c(d.port());
    auto get = [&](const std::string& token) {
        c.send_raw("GET /v1/stats HTTP/1.1\r\nHost: t\r\n" + as(token) + "\r\n\r\n");
        return c.read_line();
    };
    CHECK(get("r") == "HTTP/1.1 200 OK\r");
    for (auto line = c.read_line(); line && *line != "\r"; line = c.read_line()) {
    }               // the rest of the head
    c.read_line();  // the body
    CHECK(get("k") == "HTTP/1.1 403 Forbidden\r");
}

TEST_CASE("http.keep_alive_and_pipelining" * doctest::timeout(30)) {
    DaemonProcess d;
    // curl reuses one connection for several URLs.
    auto two = curl(d, {"/healthz", "/v1/stats"});
    CHECK(two.verbose.find("Re-using existing connection") != std::string::npos);

    // Three requests in one write come back in order on the same connection, the
    // slow one first.
    LineClient c(d.port());
    std::string body = R"({"task":"sleep","args":{"seconds":0.3}})";
    c.send_raw("POST /v1/jobs?wait=10 HTTP/1.1\r\nHost: t\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body + http_get("/healthz") +
               http_get("/v1/jobs?limit=5"));
    auto first = c.read_http_response();
    REQUIRE(first);
    CHECK(json::parse(first->body)["job"]["state"] == "succeeded");
    auto second = c.read_http_response();
    REQUIRE(second);
    CHECK(json::parse(second->body) == json{{"status", "ok"}});
    auto third = c.read_http_response();
    REQUIRE(third);
    CHECK(json::parse(third->body)["jobs"].size() == 1);
    // Still open for more; Connection: close ends it after the answer.
    c.send_raw(http_get("/healthz", "Connection: close\r\n"));
    auto last = c.read_http_response();
    REQUIRE(last);
    CHECK(last->headers["connection"] == "close");
    CHECK(c.closed_by_peer());
}

TEST_CASE("http.hostile_framing_gets_an_error_and_a_close" * doctest::timeout(60)) {
    DaemonProcess d({.config = {{"limits", {{"max_message_bytes", 65536}}}}});
    auto expect_refusal = [&](const std::string& bytes, int status) {
        CAPTURE(bytes.substr(0, 80));
        LineClient c(d.port());
        c.send_raw(bytes);
        auto r = c.read_http_response();
        REQUIRE(r);
        CHECK(r->status == status);
        CHECK(r->headers["connection"] == "close");
        CHECK(c.closed_by_peer());
    };
    // Request smuggling: two ways to frame one body.
    expect_refusal(
        "POST /v1/jobs HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
        "chunked\r\n\r\n0\r\n\r\nGET /v1/stats HTTP/1.1\r\n\r\n",
        400);
    expect_refusal("POST /v1/jobs HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
                   400);
    expect_refusal(
        "POST /v1/jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411);
    // A head that never ends, and one with a thousand headers.
    expect_refusal("GET /v1/stats HTTP/1.1\r\nX-Big: " + std::string(100000, 'a'), 431);
    std::string flood = "GET /v1/stats HTTP/1.1\r\n";
    for (int i = 0; i < 1000; ++i) {
        flood += "X-" + std::to_string(i) + ": 1\r\n";
    }
    expect_refusal(flood + "\r\n", 431);
    expect_refusal("GET /v1/stats HTTP/1.1\r\nNo colon here\r\n\r\n", 400);
    // Leniency that smuggles: a space before the colon, in a name, in the request line.
    expect_refusal("POST /v1/jobs HTTP/1.1\r\nContent-Length : 15\r\n\r\n{\"task\":\"echo\"}", 400);
    expect_refusal("GET /v1/stats HTTP/1.1\r\nX Y: 1\r\n\r\n", 400);
    expect_refusal("GET  /v1/stats HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET /v1/stats HTTP/1.2\r\n\r\n", 505);

    // A body over the limit is refused from its head: the 413 comes although the
    // body is never sent.
    LineClient big(d.port());
    big.send_raw("POST /v1/jobs HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n{\"task\":");
    auto r = big.read_http_response();
    REQUIRE(r);
    CHECK(r->status == 413);
    CHECK(json::parse(r->body)["error"]["code"] == "message_too_large");
    CHECK(big.closed_by_peer());

    LineClient after(d.port());
    after.send_raw(http_get("/healthz"));
    CHECK(after.read_http_response()->status == 200);
}

TEST_CASE("http.expect_100_continue" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"limits", {{"max_message_bytes", 1024}}}}});
    LineClient c(d.port());
    std::string body = R"({"task":"echo","args":"hi"})";
    c.send_raw("POST /v1/jobs?wait=5 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n");
    auto interim = c.read_http_response();
    REQUIRE(interim);
    CHECK(interim->status == 100);
    c.send_raw(body);
    auto r = c.read_http_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(json::parse(r->body)["job"]["result"] == "hi");

    // Too large: the final status instead of 100, and the body is never asked for.
    LineClient big(d.port());
    big.send_raw("POST /v1/jobs HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
    auto refused = big.read_http_response();
    REQUIRE(refused);
    CHECK(refused->status == 413);
}

TEST_CASE("http.slowloris_is_cut_at_request_timeout" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"limits", {{"request_timeout_s", 0.5}, {"idle_timeout_s", 60}}}}});
    LineClient slow(d.port());
    auto start = std::chrono::steady_clock::now();
    slow.send_raw("GET /v1/stats HTTP/1.1\r\n");
    bool closed = false;
    for (int i = 0; i < 40 && !closed; ++i) {
        try {
            slow.send_raw("X-A: b\r\n");  // a header every 100 ms, never the end
        } catch (const std::exception&) {
            closed = true;
        }
        closed = closed || slow.closed_by_peer(std::chrono::milliseconds(100));
    }
    CHECK(closed);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
}

TEST_CASE("http.ndjson_before_hello_takes_only_small_lines" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"auth", {{"token", "s3cret"}}}}});
    LineClient stranger(d.port());
    stranger.send_raw(std::string(8192, ' ') + "{\"op\":\"ping\"}\n");
    auto r = stranger.read_json();
    CHECK(r["error"]["code"] == "message_too_large");
    CHECK(stranger.closed_by_peer());

    LineClient friendly(d.port());
    friendly.send({{"op", "hello"}, {"token", "s3cret"}});
    CHECK(friendly.read_reply()["ok"] == true);
    auto echoed = friendly.request(
        {{"op", "submit"}, {"task", "echo"}, {"args", std::string(100000, 'x')}, {"wait", true}});
    CHECK(echoed["job"]["state"] == "succeeded");
}
