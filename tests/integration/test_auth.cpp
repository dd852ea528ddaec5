// Scoped tokens (PROTOCOL.md section 14): each token may use the ops of its
// scopes, over NDJSON and HTTP alike, and is named in `hello`, in the log of admin
// ops, and in the refusals.
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/temp_dir.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

json scoped_config(const std::string& operator_digest) {
    return {
        {"auth",
         {{"token", "root-token"},
          {"tokens",
           {{{"name", "reader"}, {"token", "reader-token"}, {"scopes", {"read"}}},
            {{"name", "producer"}, {"token", "producer-token"}, {"scopes", {"submit"}}},
            {{"name", "worker"}, {"token", "worker-token"}, {"scopes", {"worker"}}},
            {{"name", "keeper"}, {"token", "keeper-token"}, {"scopes", {"kv"}}},
            {{"name", "operator"}, {"token_sha256", operator_digest}, {"scopes", {"admin"}}}}}}},
        {"thread_pool", {{"size", 2}}}};
}

/// The SHA-256 of `text` in hex, as sha256sum prints it.
std::string sha256_hex(const std::string& text) {
    auto r = run_command({"sha256sum"}, {}, text);
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, 64);
}

/// One request of each class of op, and the scope it needs ("" for none).
struct OpClass {
    std::string scope;
    json request;
};

std::vector<OpClass> op_classes() {
    return {
        {"", {{"op", "ping"}}},
        {"read", {{"op", "stats"}}},
        {"read", {{"op", "list"}}},
        {"read", {{"op", "tasks"}}},
        {"read", {{"op", "get"}, {"job", "j-none"}}},
        {"submit", {{"op", "submit"}, {"task", "echo"}, {"args", 1}}},
        {"submit", {{"op", "map"}, {"task", "echo"}, {"items", {1, 2}}}},
        {"submit", {{"op", "cancel"}, {"job", "j-none"}}},
        {"kv", {{"op", "kv.set"}, {"key", "k"}, {"value", 1}}},
        {"kv", {{"op", "kv.get"}, {"key", "k"}}},
        {"worker", {{"op", "job.done"}, {"job", "j-none"}, {"result", 1}}},
        {"worker", {{"op", "job.progress"}, {"job", "j-none"}, {"progress", 1}}},
        {"admin", {{"op", "resize"}, {"pool", "thread"}, {"size", 2}}},
    };
}

bool may(const std::vector<std::string>& scopes, const std::string& need) {
    auto has = [&](const std::string& s) {
        return std::find(scopes.begin(), scopes.end(), s) != scopes.end();
    };
    return need.empty() || has("admin") || has(need) || (need == "read" && has("submit"));
}

}  // namespace

TEST_CASE("auth.each_scope_allows_its_ops_and_forbids_the_rest" * doctest::timeout(60)) {
    DaemonProcess d({.config = scoped_config(sha256_hex("operator-token"))});
    const std::map<std::string, std::vector<std::string>> tokens = {
        {"reader-token", {"read"}},    {"producer-token", {"submit"}},
        {"worker-token", {"worker"}},  {"keeper-token", {"kv"}},
        {"operator-token", {"admin"}}, {"root-token", {"read", "submit", "worker", "kv", "admin"}},
    };
    for (const auto& [token, scopes] : tokens) {
        CAPTURE(token);
        LineClient c(d.port());
        auto hello = c.request({{"op", "hello"}, {"token", token}});
        REQUIRE(hello["ok"] == true);
        CHECK(hello["scopes"] == json(scopes));
        for (const auto& [need, request] : op_classes()) {
            CAPTURE(request);
            auto reply = c.request(request);
            if (may(scopes, need)) {
                CHECK((reply["ok"] == true || reply["error"]["code"] != "forbidden"));
            } else {
                REQUIRE(reply["ok"] == false);
                CHECK(reply["error"]["code"] == "forbidden");
                CHECK(reply["error"]["message"].get<std::string>().find(
                          "needs the " + need + " scope") != std::string::npos);
            }
        }
        // Refused, the connection goes on.
        CHECK(c.request({{"op", "ping"}})["ok"] == true);
    }
}

TEST_CASE("auth.hello_names_the_token_and_the_log_names_it_on_admin_ops" * doctest::timeout(30)) {
    DaemonProcess d({.config = scoped_config(sha256_hex("operator-token"))});
    LineClient c(d.port());
    auto hello = c.request({{"op", "hello"}, {"token", "operator-token"}});
    CHECK(hello["name"] == "operator");
    CHECK(hello["scopes"] == json{"admin"});
    CHECK(c.request({{"op", "resize"}, {"pool", "thread"}, {"size", 3}})["ok"] == true);
    auto log = d.log();
    CHECK(log.find("(token 'operator'): resizing the thread pool from 2 to 3") !=
          std::string::npos);
    CHECK(log.find("operator-token") == std::string::npos);

    LineClient root(d.port());
    CHECK(root.request({{"op", "hello"}, {"token", "root-token"}})["name"] == "auth.token");
}

TEST_CASE("auth.a_wrong_token_is_unauthorized_whatever_tokens_exist" * doctest::timeout(30)) {
    DaemonProcess d({.config = scoped_config(sha256_hex("operator-token")), .expect_errors = true});
    LineClient c(d.port());
    auto hello = c.request({{"op", "hello"}, {"token", "reader-token-"}});
    CHECK(hello["error"]["code"] == "unauthorized");
    LineClient stranger(d.port());
    CHECK(stranger.request({{"op", "stats"}})["error"]["code"] == "unauthorized");
    // The digest itself is not a token.
    LineClient digest(d.port());
    auto by_digest = digest.request({{"op", "hello"}, {"token", sha256_hex("operator-token")}});
    CHECK(by_digest["error"]["code"] == "unauthorized");
}

TEST_CASE("auth.bad_token_lists_are_config_errors_that_say_what_to_fix" * doctest::timeout(30)) {
    TempDir dir;
    auto check = [&](const json& tokens) {
        auto path = dir.path() / "taskpool.json";
        std::ofstream(path) << json{{"auth", {{"tokens", tokens}}}}.dump();
        auto r =
            run_command({binary_path("taskpoold"), "--check-config", "--config", path.string()});
        CHECK(r.exit_code != 0);
        return r.err;
    };
    json ok = {{"name", "a"}, {"token", "t"}, {"scopes", {"read"}}};
    CHECK(check({{{"name", "a"}, {"token", "t"}, {"scopes", {"reed"}}}})
              .find("has 'reed': the scopes are read, submit, worker, kv and admin") !=
          std::string::npos);
    CHECK(check({{{"name", "a"}, {"scopes", {"read"}}}}).find("'token_sha256' is required") !=
          std::string::npos);
    CHECK(check({{{"name", "a"},
                  {"token", "t"},
                  {"token_sha256", std::string(64, 'a')},
                  {"scopes", {"read"}}}})
              .find("one of them") != std::string::npos);
    CHECK(check({{{"name", "a"}, {"token_sha256", "abc"}, {"scopes", {"read"}}}})
              .find("must be 64 hex digits") != std::string::npos);
    CHECK(check({ok, {{"name", "a"}, {"token", "u"}, {"scopes", {"kv"}}}})
              .find("two tokens are named 'a'") != std::string::npos);
    CHECK(check({{{"name", "a"}, {"token", "t"}, {"scopes", json::array()}}})
              .find("must list one or more") != std::string::npos);
    CHECK(check({{{"name", "auth.token"}, {"token", "t"}, {"scopes", {"read"}}}})
              .find("the name of auth.token") != std::string::npos);
}

TEST_CASE("auth.check_config_shows_token_names_and_scopes_never_a_token" * doctest::timeout(30)) {
    TempDir dir;
    auto path = dir.path() / "taskpool.json";
    std::ofstream(path) << scoped_config(sha256_hex("operator-token")).dump();
    auto r = run_command({binary_path("taskpoold"), "--check-config", "--config", path.string()});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("-token") == std::string::npos);
    CHECK(r.out.find(sha256_hex("operator-token")) == std::string::npos);
    auto tokens = json::parse(r.out)["auth"]["tokens"];
    REQUIRE(tokens.size() == 5);
    CHECK(tokens[4] == json{{"name", "operator"}, {"token_sha256", "***"}, {"scopes", {"admin"}}});
}

TEST_CASE("auth.jobs_name_the_token_that_submitted_them_across_a_restart" * doctest::timeout(60)) {
    TempDir dir;
    auto config = scoped_config(sha256_hex("operator-token"));
    config["store"] = {{"path", (dir.path() / "journal.db").string()}};
    std::string id;
    std::string item;
    {
        DaemonProcess d({.config = config});
        LineClient c(d.port());
        c.request({{"op", "hello"}, {"token", "producer-token"}});
        auto job =
            c.request({{"op", "submit"}, {"task", "echo"}, {"args", 1}, {"wait", true}})["job"];
        CHECK(job["submitted_by"] == "producer");
        id = job["id"];
        auto batch = c.request({{"op", "map"}, {"task", "echo"}, {"items", {1, 2}}});
        CHECK(batch["jobs"][1]["submitted_by"] == "producer");
        item = batch["jobs"][1]["id"];
        LineClient root(d.port());
        root.request({{"op", "hello"}, {"token", "root-token"}});
        CHECK(root.request({{"op", "submit"}, {"task", "echo"}})["job"]["submitted_by"] ==
              "auth.token");
    }
    DaemonProcess d({.config = config});
    LineClient c(d.port());
    c.request({{"op", "hello"}, {"token", "reader-token"}});
    CHECK(c.request({{"op", "get"}, {"job", id}})["job"]["submitted_by"] == "producer");
    CHECK(c.request({{"op", "get"}, {"job", item}})["job"]["submitted_by"] == "producer");
}
