// Webhooks: a real loopback HTTP listener receives the POSTs.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/http_listener.hpp"
#include "../support/line_client.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json submit_with_callback(LineClient& c, const std::string& url, json extra = json::object()) {
    json request = {{"op", "submit"},
                    {"task", "echo"},
                    {"args", {{"hello", "hook"}}},
                    {"callback", {{"url", url}}}};
    request.update(extra);
    auto reply = c.request(request);
    REQUIRE_MESSAGE(reply["ok"] == true, reply.dump());
    return reply["job"];
}

std::string hmac_hex(const std::string& key, const std::string& message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned size = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &size);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < size; ++i) {
        out += digits[digest[i] >> 4];
        out += digits[digest[i] & 0xF];
    }
    return out;
}

const json fast_retries = {{"callbacks", {{"backoff_s", 0.1}, {"timeout_s", 2}}}};

}  // namespace

TEST_CASE("webhook.posts_the_finished_job" * doctest::timeout(30)) {
    HttpListener hook;
    DaemonProcess d;
    LineClient c(d.port());
    auto job = submit_with_callback(c, hook.url("/done"));
    REQUIRE(hook.wait_for(1, 10s));
    auto request = hook.requests().front();
    CHECK(request.method == "POST");
    CHECK(request.path == "/done");
    CHECK(request.headers["content-type"] == "application/json");
    CHECK(request.headers["x-taskpool-delivery"].rfind("d-", 0) == 0);
    CHECK(request.headers.count("x-taskpool-signature") == 0);  // no secret configured
    auto body = json::parse(request.body);
    CHECK(body["event"] == "job.finished");
    CHECK(body["job"]["id"] == job["id"]);
    CHECK(body["job"]["state"] == "succeeded");
    CHECK(body["job"]["result"] == json{{"hello", "hook"}});
    CHECK(wait_for([&] { return c.request({{"op", "stats"}})["callbacks"]["delivered"] == 1; }));
}

TEST_CASE("webhook.retries_after_errors_with_the_same_delivery_id" * doctest::timeout(30)) {
    HttpListener hook([](const HttpListener::Request&, std::size_t n) {
        return HttpListener::Response{n < 2 ? 500 : 204};
    });
    DaemonProcess d({.config = fast_retries});
    LineClient c(d.port());
    submit_with_callback(c, hook.url());
    REQUIRE(hook.wait_for(3, 10s));
    auto requests = hook.requests();
    CHECK(requests[0].headers["x-taskpool-delivery"] == requests[1].headers["x-taskpool-delivery"]);
    CHECK(requests[1].headers["x-taskpool-delivery"] == requests[2].headers["x-taskpool-delivery"]);
    CHECK(requests[0].body == requests[2].body);
    // Back-off: 0.1 s, then 0.2 s.
    CHECK(requests[1].at - requests[0].at >= 90ms);
    CHECK(requests[2].at - requests[1].at >= 190ms);
    CHECK(wait_for([&] {
        auto stats = c.request({{"op", "stats"}})["callbacks"];
        return stats["delivered"] == 1 && stats["retries"] == 2 && stats["pending"] == 0;
    }));
    std::this_thread::sleep_for(300ms);
    CHECK(hook.requests().size() == 3);  // a 2xx ends it
}

TEST_CASE("webhook.gives_up_after_max_attempts" * doctest::timeout(30)) {
    HttpListener hook(
        [](const HttpListener::Request&, std::size_t) { return HttpListener::Response{503}; });
    json config = fast_retries;
    config["callbacks"]["max_attempts"] = 3;
    DaemonProcess d({.config = config});
    LineClient c(d.port());
    submit_with_callback(c, hook.url());
    CHECK(wait_for([&] { return c.request({{"op", "stats"}})["callbacks"]["failed"] == 1; }, 10s));
    CHECK(hook.requests().size() == 3);
    CHECK(d.log().find("failed 3 times, giving up: status 503") != std::string::npos);
}

TEST_CASE("webhook.signature_over_timestamp_and_body" * doctest::timeout(30)) {
    HttpListener hook;
    DaemonProcess d({.config = {{"callbacks", {{"secret", "s3cret"}}}}});
    LineClient c(d.port());
    submit_with_callback(c, hook.url());
    REQUIRE(hook.wait_for(1, 10s));
    auto request = hook.requests().front();
    auto timestamp = request.headers["x-taskpool-timestamp"];
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    CHECK(std::abs(std::stoll(timestamp) - now) < 60);
    CHECK(request.headers["x-taskpool-signature"] ==
          "sha256=" + hmac_hex("s3cret", timestamp + "." + request.body));
    CHECK(request.headers["x-taskpool-signature"] !=
          "sha256=" + hmac_hex("other", timestamp + "." + request.body));
}

TEST_CASE("webhook.a_receiver_that_never_answers_delays_no_one" * doctest::timeout(30)) {
    HttpListener silent([](const HttpListener::Request&, std::size_t) {
        return HttpListener::Response{0};  // never answers
    });
    HttpListener hook;
    DaemonProcess d({.config = {{"callbacks", {{"timeout_s", 20}}}}});
    LineClient c(d.port());
    submit_with_callback(c, silent.url());
    REQUIRE(silent.wait_for(1, 10s));
    auto started = std::chrono::steady_clock::now();
    submit_with_callback(c, hook.url());
    REQUIRE(hook.wait_for(1, 10s));
    CHECK(std::chrono::steady_clock::now() - started < 1s);
    // Jobs are not delayed either.
    auto job = c.request({{"op", "submit"}, {"task", "echo"}, {"wait", true}}, 5s);
    CHECK(job["job"]["state"] == "succeeded");
}

TEST_CASE("webhook.events_filter_redirects_and_bad_urls" * doctest::timeout(30)) {
    HttpListener hook([](const HttpListener::Request& r, std::size_t) {
        if (r.path == "/moved") {
            return HttpListener::Response{302, "Location: /elsewhere\r\n"};
        }
        return HttpListener::Response{200};
    });
    json config = fast_retries;
    config["callbacks"]["max_attempts"] = 2;
    DaemonProcess d({.config = config});
    LineClient c(d.port());
    // Only failures were asked for: a success sends nothing; a failure does.
    submit_with_callback(c, hook.url("/failures"),
                         {{"callback", {{"url", hook.url("/failures")}, {"events", {"failed"}}}}});
    c.request({{"op", "submit"},
               {"task", "fail"},
               {"callback", {{"url", hook.url("/failures")}, {"events", {"failed"}}}}});
    REQUIRE(hook.wait_for(1, 10s));
    // A redirect is not followed: it counts as a failed attempt.
    submit_with_callback(c, hook.url("/moved"));
    CHECK(wait_for([&] { return c.request({{"op", "stats"}})["callbacks"]["failed"] == 1; }, 10s));
    int failures = 0;
    for (const auto& r : hook.requests()) {
        CHECK(r.path != "/elsewhere");
        if (r.path == "/failures") {
            ++failures;
            CHECK(json::parse(r.body)["job"]["task"] == "fail");
        }
    }
    CHECK(failures == 1);

    for (const char* url : {"ftp://127.0.0.1/x", "file:///etc/passwd", "http://", "127.0.0.1:80"}) {
        auto reply = c.request({{"op", "submit"}, {"task", "echo"}, {"callback", {{"url", url}}}});
        CHECK(reply["error"]["code"] == "bad_request");
    }
}

TEST_CASE("webhook.on_map_jobs" * doctest::timeout(30)) {
    HttpListener hook;
    DaemonProcess d;
    LineClient c(d.port());
    auto reply = c.request({{"op", "map"},
                            {"task", "echo"},
                            {"items", {1, 2, 3}},
                            {"callback", {{"url", hook.url()}}}});
    REQUIRE(reply["ok"] == true);
    REQUIRE(hook.wait_for(3, 10s));
    std::set<std::string> ids;
    for (const auto& r : hook.requests()) {
        ids.insert(r.headers.at("x-taskpool-delivery"));
        CHECK(json::parse(r.body)["job"]["batch"] == reply["batch"]);
    }
    CHECK(ids.size() == 3);
}
