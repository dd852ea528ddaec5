#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/wait_for.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

/// What systemd does for a Type=notify unit: a datagram socket named by
/// NOTIFY_SOCKET, read one message at a time.
class NotifySocket {
public:
    NotifySocket() : path_((dir_.path() / "notify").string()) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path_.c_str(), sizeof(address.sun_path) - 1);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    const std::string& path() const { return path_; }
    std::optional<std::string> receive(int timeout_ms = 10000) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) != 1) {
            return std::nullopt;
        }
        char buf[4096];
        auto n = ::recv(fd_, buf, sizeof(buf), 0);
        return n < 0 ? std::nullopt : std::optional<std::string>(std::string(buf, n));
    }

private:
    TempDir dir_;
    std::string path_;
    int fd_ = -1;
};

}  // namespace

TEST_CASE("shutdown.sigterm_drains_every_job_then_exits_0" * doctest::timeout(60)) {
    // A node of a cluster leaves the queue to the others: cluster.a_drain_leaves_the_queue.
    DaemonProcess d(
        {.config = {{"thread_pool", {{"size", 2}}}, {"cluster", {{"redis", nullptr}}}}});
    LineClient c(d.port());
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
        ids.push_back(c.request(
            {{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 0.3}}}})["job"]["id"]);
    }
    LineClient watcher(d.port());
    watcher.request({{"op", "subscribe"}, {"jobs", ids}});
    d.signal(SIGTERM);
    REQUIRE(wait_for([&] {
        return c.request({{"op", "submit"}, {"task", "echo"}})["error"]["code"] == "shutting_down";
    }));
    int succeeded = 0;
    while (succeeded < 6) {
        auto e = watcher.read_json();
        if (e["event"] == "job.finished") {
            CHECK(e["job"]["state"] == "succeeded");
            ++succeeded;
        }
    }
    CHECK(d.wait_exit(std::chrono::seconds(10)) == 0);
    CHECK(d.log().find("shutting down") != std::string::npos);
}

TEST_CASE("shutdown.a_drain_past_its_timeout_turns_into_now" * doctest::timeout(60)) {
    // Without a journal, what a stop does not finish is cancelled (with one, it
    // stays queued: durability.a_normal_stop_leaves_the_queue_as_a_kill_9_would).
    DaemonProcess d(
        {.config = {{"shutdown", {{"drain_timeout_s", 0.5}}}, {"store", {{"path", nullptr}}}}});
    LineClient c(d.port());
    auto id = c.request({{"op", "submit"},
                         {"task", "sleep"},
                         {"args", {{"seconds", 60}}},
                         {"notify", true}})["job"]["id"];
    auto start = std::chrono::steady_clock::now();
    d.signal(SIGTERM);
    json finished;
    while (!finished.contains("job")) {
        auto e = c.read_json();
        if (e["event"] == "job.finished") {
            finished = e;
        }
    }
    CHECK(finished["job"]["state"] == "cancelled");
    CHECK(finished["job"]["error"]["code"] == "shutdown");
    CHECK(d.wait_exit(std::chrono::seconds(10)) == 0);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("shutdown.sigint_and_a_second_sigterm_stop_now" * doctest::timeout(60)) {
    for (bool twice : {false, true}) {
        DaemonProcess d;
        LineClient c(d.port());
        c.request({{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 60}}}});
        if (twice) {
            d.signal(SIGTERM);
            REQUIRE(
                wait_for([&] { return d.log().find("finishing queued") != std::string::npos; }));
            d.signal(SIGTERM);
        } else {
            d.signal(SIGINT);
        }
        CHECK(d.wait_exit(std::chrono::seconds(5)) == 0);
    }
}

TEST_CASE("shutdown.refuses_a_public_address_without_tls_and_a_token" * doctest::timeout(30)) {
    auto r = run_command({binary_path("taskpoold"), "--listen", "0.0.0.0:0"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("without TLS and a token: set tls.cert and tls.key") != std::string::npos);
}

TEST_CASE("shutdown.bad_config_is_one_line_and_exit_2" * doctest::timeout(30)) {
    auto r = run_command({binary_path("taskpoold"), "--check-config"},
                         {{"TASKPOOL_QUEUE_MAX_SIZE", "-1"}});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("queue.max_size") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    auto ok = run_command({binary_path("taskpoold"), "--check-config"});
    CHECK(ok.exit_code == 0);
    CHECK(nlohmann::json::parse(ok.out)["listen"] == "127.0.0.1:7433");
}

TEST_CASE("shutdown.check_config_never_prints_a_secret" * doctest::timeout(30)) {
    auto r = run_command(
        {binary_path("taskpoold"), "--check-config"},
        {{"TASKPOOL_TOKEN", "tok-s3cret"}, {"TASKPOOL_CALLBACKS_SECRET", "hmac-s3cret"}});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("s3cret") == std::string::npos);
    auto dumped = nlohmann::json::parse(r.out);
    CHECK(dumped["auth"]["token"] == "***");
    CHECK(dumped["callbacks"]["secret"] == "***");
    auto unset =
        nlohmann::json::parse(run_command({binary_path("taskpoold"), "--check-config"}).out);
    CHECK(unset["auth"]["token"].is_null());  // "***" would say one is set
}

TEST_CASE("shutdown.tells_the_service_manager_ready_and_stopping" * doctest::timeout(30)) {
    NotifySocket notify;
    DaemonProcess d({.env = {{"NOTIFY_SOCKET", notify.path()}}});
    auto ready = notify.receive();
    REQUIRE(ready.has_value());
    CHECK(*ready ==
          "READY=1\nSTATUS=listening on " + d.address() + "\nMAINPID=" + std::to_string(d.pid()));
    d.signal(SIGTERM);
    CHECK(notify.receive() == std::optional<std::string>("STOPPING=1"));
    CHECK(d.wait_exit(std::chrono::seconds(10)) == 0);
    CHECK_FALSE(notify.receive(200).has_value());  // told once
}

TEST_CASE("shutdown.only_the_io_thread_takes_the_stop_and_child_signals" * doctest::timeout(30)) {
    // The kernel gives a process's signal to any thread not blocking it; the
    // daemon handles these on its io thread (the one whose id is the pid).
    DaemonProcess d({.config = {{"thread_pool", {{"size", 3}}}}});
    auto blocked = [](const std::filesystem::path& task) {
        std::ifstream status(task / "status");
        std::string line;
        while (std::getline(status, line)) {
            if (line.rfind("SigBlk:", 0) == 0) {
                return std::stoull(line.substr(7), nullptr, 16);
            }
        }
        FAIL("no SigBlk in " << task);
        return 0ULL;
    };
    const unsigned long long handled =
        (1ULL << (SIGTERM - 1)) | (1ULL << (SIGINT - 1)) | (1ULL << (SIGCHLD - 1));
    int helpers = 0;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(d.pid()) + "/task")) {
        CAPTURE(task.path());
        if (task.path().filename() == std::to_string(d.pid())) {
            CHECK((blocked(task.path()) & handled) == 0);
        } else {
            CHECK((blocked(task.path()) & handled) == handled);
            ++helpers;
        }
    }
    CHECK(helpers >= 4);  // three task threads and the webhook sender, at least
}

TEST_CASE("shutdown.sighup_reloads_the_token_limits_and_log_level_and_other_signals_are_ignored" *
          doctest::timeout(60)) {
    DaemonProcess d({.config = {{"auth", {{"token", "old"}}}}, .expect_errors = true});
    // The daemon's own file, edited as an operator would (a journal's path stays).
    auto path = d.dir().path() / "taskpool.json";
    auto base = json::parse(std::ifstream(path));
    auto write_config = [&](const json& changes) {
        auto config = base;
        config.merge_patch(changes);
        std::ofstream(path) << config.dump();
    };
    LineClient running(d.port());
    REQUIRE(running.request({{"op", "hello"}, {"token", "old"}})["ok"] == true);
    auto job = running.request(
        {{"op", "submit"}, {"task", "sleep"}, {"args", {{"seconds", 1.5}}}})["job"]["id"];

    write_config({{"auth", {{"token", "new"}}},
                  {"limits", {{"max_connections", 50}}},
                  {"log", {{"level", "debug"}}},
                  {"queue", {{"max_size", 10}}}});
    d.signal(SIGHUP);
    REQUIRE(wait_for([&] { return d.log().find("SIGHUP: config reloaded") != std::string::npos; }));
    auto log = d.log();
    CHECK(log.find("changed: auth.token, limits.max_connections, log.level") != std::string::npos);
    CHECK(log.find("these take a restart: queue.max_size") != std::string::npos);
    CHECK(log.find("\"new\"") == std::string::npos);  // a secret is named, never shown
    LineClient old_token(d.port());
    CHECK(old_token.request({{"op", "hello"}, {"token", "old"}})["error"]["code"] ==
          "unauthorized");
    LineClient new_token(d.port());
    CHECK(new_token.request({{"op", "hello"}, {"token", "new"}})["ok"] == true);

    // A config that does not load leaves the running one as it is.
    write_config({{"queue", {{"max_size", -1}}}});
    d.signal(SIGHUP);
    REQUIRE(wait_for([&] { return d.log().find("was not reloaded") != std::string::npos; }));

    for (int signo : {SIGUSR1, SIGUSR2, SIGALRM}) {
        d.signal(signo);
    }
    REQUIRE(wait_for([&] { return d.log().find("SIGALRM; ignored") != std::string::npos; }));
    CHECK(d.running());
    // The connection that said hello before stays, and its job was never stopped.
    auto finished = running.request({{"op", "get"}, {"job", job}, {"wait", 10}})["job"];
    CHECK(finished["state"] == "succeeded");
    CHECK(finished["attempts"] == 1);
}
