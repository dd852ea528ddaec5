// What the dashboard at /ui reads, over real HTTP with curl: its own files and
// their headers, and the API it uses beyond version 1's (list filters and pages,
// kv.list, hello, stats' history, resize). The page itself is tested in a real
// browser (tests/browser).
#include <set>
#include <string>

#include <doctest/doctest.h>

#include "../support/curl.hpp"
#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/request_ok.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

const json scoped_tokens = {{"tokens",
                             {{{"name", "ops"}, {"token", "a"}, {"scopes", {"admin"}}},
                              {{"name", "viewer"}, {"token", "r"}, {"scopes", {"read"}}}}}};

std::string as(const std::string& token) {
    return "Authorization: Bearer " + token;
}

/// The value of the response header `name` in curl's -v trace ("< Name: value").
std::string header(const CurlResult& r, const std::string& name) {
    auto at = r.verbose.find("< " + name + ": ");
    if (at == std::string::npos) {
        return {};
    }
    at += name.size() + 4;
    return r.verbose.substr(at, r.verbose.find('\r', at) - at);
}

std::vector<std::string> ids_of(const CurlResult& r) {
    REQUIRE_MESSAGE(r.status == 200, r.body);
    std::vector<std::string> ids;
    auto body = body_json(r);
    for (const auto& job : body["jobs"]) {
        ids.push_back(job["id"]);
    }
    return ids;
}

}  // namespace

TEST_CASE("dashboard.its_files_need_no_token_and_come_with_a_strict_policy" *
          doctest::timeout(30)) {
    DaemonProcess d({.config = {{"auth", scoped_tokens}}});
    std::size_t total = 0;
    for (const auto& [path, type] :
         {std::pair{"/ui", "text/html"}, std::pair{"/ui/", "text/html"},
          std::pair{"/ui/app.js", "text/javascript"}, std::pair{"/ui/app.css", "text/css"}}) {
        CAPTURE(path);
        auto file = curl(d, {path});
        CHECK(file.status == 200);
        CHECK(header(file, "Content-Type").starts_with(type));
        auto policy = header(file, "Content-Security-Policy");
        CHECK(policy.find("script-src 'self'") != std::string::npos);
        CHECK(policy.find("default-src 'none'") != std::string::npos);
        CHECK(policy.find("unsafe") == std::string::npos);
        CHECK(header(file, "X-Frame-Options") == "DENY");
        CHECK(header(file, "X-Content-Type-Options") == "nosniff");
        // Nothing from elsewhere: no CDN, no web font, no address of any other host.
        CHECK(file.body.find("://") == std::string::npos);
        if (std::string(type) == "text/html") {
            CHECK(file.body.find("<script>") == std::string::npos);  // no inline script
        }
        if (std::string(path) != "/ui") {
            total += file.body.size();
        }
    }
    CHECK(total < 200 * 1024);

    auto root = curl(d, {"/"});
    CHECK(root.status == 302);
    CHECK(header(root, "Location") == "/ui/");
    CHECK(curl(d, {"/ui/nope.js"}).status == 404);
    CHECK(curl(d, {"-XPOST", "/ui/"}).status == 405);
    // The page is public; what it shows is not.
    CHECK(curl(d, {"/v1/hello"}).status == 401);
    CHECK(curl(d, {"/v1/stats"}).status == 401);
    CHECK(header(curl(d, {"-H", as("r"), "/v1/stats"}), "X-Content-Type-Options") == "nosniff");
}

TEST_CASE("dashboard.hello_over_http_tells_the_tokens_scopes" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"auth", scoped_tokens}}});
    auto reader = body_json(curl(d, {"-H", as("r"), "/v1/hello"}));
    CHECK(reader["name"] == "viewer");
    CHECK(reader["scopes"] == json{"read"});
    auto admin = body_json(curl(d, {"-H", as("a"), "/v1/hello"}));
    CHECK(admin["scopes"] == json{"admin"});
    CHECK(curl(d, {"-H", as("wrong"), "/v1/hello"}).status == 401);
}

TEST_CASE("dashboard.jobs_are_listed_by_task_queue_batch_and_id_in_pages" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    ok(c, {{"op", "hello"}});
    std::vector<std::string> echoes;
    for (int i = 0; i < 5; ++i) {
        echoes.push_back(submit(c, {{"task", "echo"}, {"args", i}, {"wait", 10}})["id"]);
    }
    auto failed = submit(c, {{"task", "fail"}, {"wait", 10}})["id"].get<std::string>();
    auto mailed = submit(c, {{"task", "echo"}, {"queue", "mail"}, {"wait", 10}})["id"];
    auto batch = ok(c, {{"op", "map"}, {"task", "echo"}, {"items", {1, 2, 3}}, {"wait", 10}});

    CHECK(ids_of(curl(d, {"/v1/jobs?task=fail"})) == std::vector<std::string>{failed});
    CHECK(ids_of(curl(d, {"/v1/jobs?queue=mail"})) == std::vector<std::string>{mailed});
    auto in_batch = ids_of(curl(d, {"/v1/jobs?batch=" + batch["batch"].get<std::string>()}));
    CHECK(in_batch.size() == 3);
    CHECK(ids_of(curl(d, {"/v1/jobs?contains=" + failed.substr(10)})) ==
          std::vector<std::string>{failed});
    CHECK(ids_of(curl(d, {"/v1/jobs?task=echo&state=failed"})).empty());
    // A task or queue named by digits is a name, not a number.
    CHECK(curl(d, {"/v1/jobs?task=123"}).status == 200);

    // Pages of 4, each from the last job of the one before: every job once, newest first.
    std::vector<std::string> paged;
    std::string before;
    for (int page = 0; page < 5; ++page) {
        auto ids =
            ids_of(curl(d, {"/v1/jobs?limit=4" + (before.empty() ? "" : "&before=" + before)}));
        paged.insert(paged.end(), ids.begin(), ids.end());
        if (ids.size() < 4) {
            break;
        }
        before = ids.back();
    }
    CHECK(paged == ids_of(curl(d, {"/v1/jobs?limit=100"})));
    CHECK(paged.size() == 10);
    CHECK(std::set<std::string>(paged.begin(), paged.end()).size() == paged.size());
    CHECK(paged.back() == echoes.front());

    auto unknown = curl(d, {"/v1/jobs?before=j-nope"});
    CHECK(unknown.status == 404);
    CHECK(body_json(unknown)["error"]["code"] == "no_such_job");
}

TEST_CASE("dashboard.shared_state_is_listed_in_key_order_to_a_read_token" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"auth", scoped_tokens}}});
    LineClient c(d.port());
    ok(c, {{"op", "hello"}, {"token", "a"}});
    for (const auto* key : {"b:2", "a:1", "b:1", "b:3", "c"}) {
        ok(c, {{"op", "kv.set"}, {"key", key}, {"value", {{"key", key}}}});
    }
    auto first = body_json(curl(d, {"-H", as("r"), "/v1/kv?prefix=b:&limit=2"}));
    CHECK(first["values"] == json{{{"key", "b:1"}, {"value", {{"key", "b:1"}}}},
                                  {{"key", "b:2"}, {"value", {{"key", "b:2"}}}}});
    CHECK(first["more"] == true);
    auto rest = body_json(curl(d, {"-H", as("r"), "/v1/kv?prefix=b:&limit=2&after=b:2"}));
    CHECK(rest["values"] == json{{{"key", "b:3"}, {"value", {{"key", "b:3"}}}}});
    CHECK(rest["more"] == false);
    auto all = body_json(curl(d, {"-H", as("r"), "/v1/kv"}));
    CHECK(all["values"].size() == 5);
    CHECK(all["values"][0]["key"] == "a:1");
    // Looking is all a read token may do.
    LineClient reader(d.port());
    ok(reader, {{"op", "hello"}, {"token", "r"}});
    CHECK(reader.request({{"op", "kv.get"}, {"key", "c"}})["error"]["code"] == "forbidden");
}

TEST_CASE("dashboard.stats_history_and_resize_over_http" * doctest::timeout(30)) {
    DaemonProcess d({.config = {{"auth", scoped_tokens}}});
    auto stats = body_json(curl(d, {"-H", as("r"), "/v1/stats?history=true"}));
    REQUIRE(stats.contains("history"));
    CHECK(stats["history"]["step_s"] == 5);
    CHECK(stats["history"]["at"].is_array());
    CHECK(!body_json(curl(d, {"-H", as("r"), "/v1/stats"})).contains("history"));
    CHECK(stats["pools"]["process"]["workers"][0]["memory_bytes"] > 1024 * 1024);

    auto refused = curl(d, {"-H", as("r"), "-XPUT", "-d", R"({"size":3})", "/v1/pools/thread"});
    CHECK(refused.status == 403);
    auto resized = curl(d, {"-H", as("a"), "-XPUT", "-d", R"({"size":3})", "/v1/pools/thread"});
    CHECK(resized.status == 200);
    CHECK(body_json(curl(d, {"-H", as("a"), "/v1/stats"}))["pools"]["thread"]["size"] == 3);
    CHECK(curl(d, {"-H", as("a"), "-XPUT", "-d", R"({"size":3})", "/v1/pools/nope"}).status == 400);
}
