// The journal (store.path): what the daemon acknowledged survives kill -9, and a
// journal it cannot write or read is met with a clear answer.
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/http_listener.hpp"
#include "../support/line_client.hpp"
#include "../support/request_ok.hpp"
#include "../support/wait_for.hpp"
#include "proto/job.hpp"

using namespace taskpool::test;
using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A daemon with its journal in a directory of the test's own, so that it can be
/// killed and started again on the same file.
class Journaled {
public:
    explicit Journaled(json config = json::object(), fs::path path = {})
        : config_(std::move(config)), path_(path.empty() ? dir_.path() / "journal.db" : path) {
        config_["store"]["path"] = path_.string();
    }
    /// The daemon will log errors (a full disk).
    void expect_errors() { expect_errors_ = true; }

    const fs::path& path() const { return path_; }
    DaemonProcess& start() {
        daemon_.emplace(DaemonProcess::Options{.config = config_, .expect_errors = expect_errors_});
        return *daemon_;
    }
    DaemonProcess& daemon() { return *daemon_; }
    void kill_9() {
        daemon_->signal(SIGKILL);
        REQUIRE(daemon_->wait_exit(10s).has_value());
        daemon_.reset();
    }

private:
    TempDir dir_;
    json config_;
    fs::path path_;
    std::optional<DaemonProcess> daemon_;
    bool expect_errors_ = false;
};

/// The first value `sql` yields, as text, from a journal no daemon has open.
std::string query(const fs::path& path, const char* sql) {
    sqlite3* db = nullptr;
    std::string result = "cannot open";
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
        sqlite3_stmt* stmt = nullptr;
        sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
        result = sqlite3_step(stmt) == SQLITE_ROW
                     ? reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))
                     : sqlite3_errmsg(db);
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return result;
}

std::string integrity(const fs::path& path) {
    return query(path, "PRAGMA integrity_check");
}

json get(LineClient& c, const json& id, double wait = 0) {
    json req = {{"op", "get"}, {"job", id}};
    if (wait > 0) {
        req["wait"] = wait;
    }
    return c.request(req, 60s);
}

void wait_running(LineClient& c, const json& id) {
    REQUIRE(wait_for([&] { return get(c, id)["job"]["state"] == "running"; }));
}

/// GET /healthz over HTTP.
HttpResponse healthz(std::uint16_t port) {
    LineClient http(port);
    http.send_raw("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    auto response = http.read_http_response();
    REQUIRE(response);
    return *response;
}

/// A 4 MiB tmpfs of the test's own, to fill up. (Not to make read-only: a file
/// system with files open for writing cannot be remounted so.) Mounting needs
/// root in a namespace that allows it; tests skip, saying so, where it does not.
class SmallDisk {
public:
    SmallDisk() {
        if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, "size=4m") == 0) {
            mounted_ = true;
        } else {
            why_not_ = std::string("cannot mount a small tmpfs here (") + std::strerror(errno) +
                       "); it needs root in a namespace that allows mounts";
        }
    }
    ~SmallDisk() {
        if (mounted_) {
            ::umount2(dir_.path().c_str(), MNT_DETACH);
        }
    }
    SmallDisk(const SmallDisk&) = delete;
    SmallDisk& operator=(const SmallDisk&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& why_not() const { return why_not_; }
    const fs::path& path() const { return dir_.path(); }

private:
    TempDir dir_;
    bool mounted_ = false;
    std::string why_not_;
};

std::uintmax_t size_with_wal(const fs::path& path) {
    std::error_code ec;
    auto wal = fs::file_size(path.string() + "-wal", ec);
    return fs::file_size(path) + (ec ? 0 : wal);
}

}  // namespace

TEST_CASE("durability.acknowledged_jobs_survive_kill_9" * doctest::timeout(60)) {
    // sync full: what survives a power loss surely survives a kill.
    Journaled j(json{{"thread_pool", {{"size", 1}}},
                     {"process_pool", {{"size", 1}}},
                     {"store", {{"sync", "full"}}}});
    j.start();
    json lost, retried, done, keyed;
    std::vector<json> queued;
    std::string newest_before;
    {
        LineClient c(j.daemon().port());
        done = c.request(
            {{"op", "submit"}, {"task", "echo"}, {"args", {{"x", 1}}}, {"wait", true}})["job"];
        REQUIRE(done["state"] == "succeeded");
        // Running when the daemon dies: without retries it is lost, with one it runs again.
        lost = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 30}}}, {"pool", "process"}});
        retried = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 1}}}, {"retries", 1}});
        wait_running(c, lost["id"]);
        wait_running(c, retried["id"]);
        // Queued behind it: they run after the restart by priority, then arrival.
        for (int priority : {0, 5, 0, 5, -1}) {
            queued.push_back(submit(
                c, {{"task", "sleep"}, {"args", {{"seconds", 0.05}}}, {"priority", priority}}));
        }
        keyed = submit(c, {{"task", "echo"}, {"args", "k"}, {"key", "once"}});
        CHECK(c.request({{"op", "kv.set"}, {"key", "counter"}, {"value", 41}})["ok"] == true);
        newest_before = keyed["id"];
    }
    j.kill_9();
    CHECK(integrity(j.path()) == "ok");

    j.start();
    LineClient c(j.daemon().port());
    auto after = get(c, done["id"])["job"];
    CHECK(after["state"] == "succeeded");
    CHECK(after["result"] == json{{"x", 1}});

    auto was_lost = get(c, lost["id"], 10)["job"];
    CHECK(was_lost["state"] == "failed");
    CHECK(was_lost["error"]["code"] == "lost");

    auto again = get(c, retried["id"], 20)["job"];
    CHECK(again["state"] == "succeeded");
    CHECK(again["attempts"] == 2);

    std::vector<std::string> started;
    for (const auto& q : queued) {
        auto job = get(c, q["id"], 20)["job"];
        REQUIRE(job["state"] == "succeeded");
        started.push_back(job["started_at"]);
    }
    // Priority 5 (items 1 and 3) first, then the retried job and the 0s, then -1.
    CHECK(started[1] < started[3]);
    CHECK(started[3] < again["started_at"].get<std::string>());
    CHECK(again["started_at"].get<std::string>() < started[0]);
    CHECK(started[0] < started[2]);
    CHECK(started[2] < started[4]);

    // The idempotency key still holds; ids go on from the newest.
    auto same = submit(c, {{"task", "echo"}, {"args", "k"}, {"key", "once"}});
    CHECK(same["id"] == keyed["id"]);
    auto fresh = submit(c, {{"task", "echo"}, {"args", 1}});
    CHECK(fresh["id"].get<std::string>() > newest_before);
    CHECK(c.request({{"op", "kv.incr"}, {"key", "counter"}})["value"] == 42);
    CHECK(c.request({{"op", "stats"}})["store"]["writable"] == true);
}

TEST_CASE("durability.finished_jobs_come_back_exactly_as_they_were" * doctest::timeout(60)) {
    // Pipelined short jobs start and end between two commits, which the journal
    // writes as one row: what it wrote must still be all of the job.
    Journaled j(json{
        {"test_tasks", true}, {"thread_pool", {{"size", 2}}}, {"process_pool", {{"size", 2}}}});
    j.start();
    std::vector<json> before;
    {
        LineClient c(j.daemon().port());
        std::string burst;
        for (int i = 0; i < 400; ++i) {
            json req = {{"op", "submit"},
                        {"task", "echo"},
                        {"args", {{"i", i}}},
                        {"pool", i % 2 == 0 ? "thread" : "process"},
                        {"wait", true}};
            if (i % 50 == 7) {  // crashes, is queued again, crashes again
                req = {{"op", "submit"},
                       {"task", "crash"},
                       {"args", json::object()},
                       {"retries", 1},
                       {"wait", true}};
            }
            burst += req.dump() + "\n";
        }
        c.send_raw(burst);
        for (int i = 0; i < 400; ++i) {
            auto reply = c.read_reply(30s);
            REQUIRE_MESSAGE(reply["ok"] == true, reply.dump());
            before.push_back(reply["job"]);
        }
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    int crashed = 0;
    for (const auto& job : before) {
        auto after = get(c, job["id"])["job"];
        CHECK(after == job);
        CHECK(after["started_at"].is_string());
        CHECK(after["worker"]["pid"].is_number());
        if (job["task"] == "crash") {
            CHECK(job["attempts"] == 2);
            CHECK(job["error"]["code"] == "worker_crashed");
            ++crashed;
        }
    }
    CHECK(crashed == 8);
}

TEST_CASE("durability.a_job_seen_finished_is_finished_after_kill_9" * doctest::timeout(60)) {
    // A job ends in memory a moment before its end is committed; a `get` in that
    // moment must not report an end that a kill -9 then takes back. With sync full
    // the moment lasts an fsync, so polling as fast as replies come would see it.
    Journaled j(json{{"store", {{"sync", "full"}}}});
    for (int round = 0; round < 10; ++round) {
        j.start();
        json seen;
        {
            LineClient c(j.daemon().port());
            auto job = submit(c, {{"task", "echo"}, {"args", round}});
            do {  // no pause between polls: the moment is short
                seen = get(c, job["id"])["job"];
            } while (seen["state"] != "succeeded");
        }
        j.kill_9();
        j.start();
        LineClient c(j.daemon().port());
        CHECK(get(c, seen["id"])["job"] == seen);
        j.kill_9();
    }
}

TEST_CASE("durability.twenty_kill_9s_while_a_client_pipelines" * doctest::timeout(120)) {
    Journaled j(json{{"thread_pool", {{"size", 2}}}, {"process_pool", {{"size", 1}}}});
    std::mt19937 rng(std::random_device{}());
    std::vector<std::string> acknowledged;
    auto started = std::chrono::steady_clock::now();
    int rounds = 0;
    for (; rounds < 20 && std::chrono::steady_clock::now() - started < 60s; ++rounds) {
        j.start();
        if (!acknowledged.empty()) {
            // Every job acknowledged before any kill is there.
            LineClient check(j.daemon().port());
            std::string burst;
            for (const auto& id : acknowledged) {
                burst += json{{"op", "get"}, {"job", id}}.dump() + "\n";
            }
            check.send_raw(burst);
            for (const auto& id : acknowledged) {
                auto reply = check.read_reply(30s);
                REQUIRE_MESSAGE(reply["ok"] == true, "job " << id << " is gone: " << reply);
            }
        }
        std::mutex mutex;
        std::vector<std::string> acked;
        std::thread client([&, port = j.daemon().port()] {
            LineClient c(port);
            try {
                for (int n = 0;; ++n) {
                    std::string burst;
                    // Mostly echo; one short sleep a burst, so that some jobs are
                    // running at the kill, every other one with a retry.
                    for (int i = 0; i < 20; ++i) {
                        json req = {{"op", "submit"}, {"task", "echo"}, {"args", n * 20 + i}};
                        if (i == 1) {
                            req = {{"op", "submit"},
                                   {"task", "sleep"},
                                   {"args", {{"seconds", 0.01}}},
                                   {"retries", n % 2}};
                        }
                        burst += req.dump() + "\n";
                    }
                    c.send_raw(burst);
                    for (int i = 0; i < 20; ++i) {
                        auto reply = c.read_reply(10s);
                        if (reply["ok"] == true) {
                            std::lock_guard lock(mutex);
                            acked.push_back(reply["job"]["id"]);
                        }
                    }
                    // About as fast as two threads run those sleeps: no endless backlog.
                    std::this_thread::sleep_for(3ms);
                }
            } catch (const std::exception&) {
                // The daemon was killed.
            }
        });
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 400)(rng)));
        j.kill_9();
        client.join();
        REQUIRE(integrity(j.path()) == "ok");
        acknowledged.insert(acknowledged.end(), acked.begin(), acked.end());
    }
    MESSAGE(rounds << " kill -9s, " << acknowledged.size() << " acknowledged jobs");
    CHECK(rounds >= 10);
    REQUIRE(acknowledged.size() > 100);

    // After the last restart every one reaches a final state; only a job that had
    // started can be lost.
    j.start();
    LineClient c(j.daemon().port());
    std::string burst;
    for (const auto& id : acknowledged) {
        burst += json{{"op", "get"}, {"job", id}, {"wait", 30}}.dump() + "\n";
    }
    c.send_raw(burst);
    int lost = 0;
    for (std::size_t i = 0; i < acknowledged.size(); ++i) {
        auto reply = c.read_reply(60s);
        REQUIRE(reply["ok"] == true);
        const auto& job = reply["job"];
        if (job["state"] == "failed") {
            CHECK(job["error"]["code"] == "lost");
            CHECK(job["started_at"].is_string());
            ++lost;
        } else {
            CHECK_MESSAGE(job["state"] == "succeeded", job.dump());
        }
    }
    MESSAGE(lost << " lost (running at a kill, no retries left)");
}

TEST_CASE("durability.expired_jobs_leave_the_file_so_it_stops_growing" * doctest::timeout(120)) {
    Journaled j(json{{"jobs", {{"result_ttl_s", 1}}}});
    j.start();
    LineClient c(j.daemon().port());
    json items = json::array();
    for (int i = 0; i < 1000; ++i) {
        items.push_back({{"n", i}, {"pad", std::string(100, 'x')}});
    }
    // The request made once, and its replies (a thousand jobs each) checked as text:
    // JSON for 100,000 jobs would be most of this test's time under TSan.
    auto map = json{{"op", "map"}, {"task", "echo"}, {"items", items}, {"wait", 60}}.dump() + "\n";
    std::vector<std::uintmax_t> sizes;
    for (int thousand = 1; thousand <= 100; ++thousand) {
        c.send_raw(map);
        auto reply = c.read_line(60s);
        REQUIRE(reply.has_value());
        REQUIRE_MESSAGE(reply->starts_with(R"({"ok":true,)"), reply->substr(0, 200));
        if (thousand % 25 == 0) {
            std::this_thread::sleep_for(1500ms);  // past the TTL: the rows go
            c.request({{"op", "ping"}});
            sizes.push_back(size_with_wal(j.path()));
        }
    }
    MESSAGE("journal + WAL after 25k, 50k, 75k, 100k jobs: "
            << sizes[0] << ", " << sizes[1] << ", " << sizes[2] << ", " << sizes[3] << " bytes");
    CHECK(sizes[3] <= sizes[1] + sizes[1] / 4);
    // A job's run goes with it.
    j.daemon().signal(SIGTERM);
    REQUIRE(j.daemon().wait_exit(10s) == 0);
    CHECK(query(j.path(), "SELECT count(*) FROM runs WHERE seq NOT IN (SELECT seq FROM jobs)") ==
          "0");
}

TEST_CASE("durability.restart_delivers_webhooks_not_yet_delivered" * doctest::timeout(60)) {
    std::atomic<bool> answer = false;
    HttpListener hook([&](const HttpListener::Request&, std::size_t) {
        return HttpListener::Response{answer ? 200 : 503, ""};
    });
    Journaled j(json{{"callbacks", {{"max_attempts", 100}, {"backoff_s", 0.2}}}});
    j.start();
    {
        LineClient c(j.daemon().port());
        submit(c, {{"task", "echo"}, {"args", "hooked"}, {"callback", {{"url", hook.url()}}}});
        REQUIRE(hook.wait_for(2, 10s));  // refused at least once
    }
    j.kill_9();
    answer = true;
    auto before = hook.requests().size();
    j.start();
    REQUIRE(hook.wait_for(before + 1, 10s));
    auto requests = hook.requests();
    const auto& last = requests.back();
    CHECK(last.headers.at("x-taskpool-delivery") ==
          requests.front().headers.at("x-taskpool-delivery"));
    CHECK(json::parse(last.body)["job"]["result"] == "hooked");
    LineClient c(j.daemon().port());
    REQUIRE(wait_for([&] { return c.request({{"op", "stats"}})["callbacks"]["delivered"] == 1; }));
}

TEST_CASE("durability.a_full_disk_gives_unavailable_then_recovers" * doctest::timeout(60)) {
    SmallDisk disk;
    if (!disk.mounted()) {
        MESSAGE("skipped: " << disk.why_not());
        return;
    }
    Journaled j(json::object(), disk.path() / "journal.db");
    j.expect_errors();
    j.start();
    LineClient c(j.daemon().port());
    auto kept = submit(c, {{"task", "echo"}, {"args", "before"}});

    // Fill the disk, leaving the journal no room to grow.
    auto filler = disk.path() / "filler";
    {
        std::ofstream out(filler, std::ios::binary);
        std::string mb(1 << 16, 'f');
        while (out.write(mb.data(), static_cast<std::streamsize>(mb.size()))) {
            out.flush();
        }
    }
    std::string big(200 * 1024, 'b');
    json refused;
    int accepted = 0;
    for (int i = 0; i < 50; ++i) {
        auto reply = c.request({{"op", "submit"}, {"task", "echo"}, {"args", big}});
        if (reply["ok"] == false) {
            refused = reply;
            break;
        }
        ++accepted;
    }
    REQUIRE_MESSAGE(refused.is_object(), "no submit was refused on a full disk");
    CHECK(refused["error"]["code"] == "unavailable");
    CHECK(refused["error"]["message"].get<std::string>().find("journal") != std::string::npos);
    auto store = c.request({{"op", "stats"}})["store"];
    CHECK(store["writable"] == false);
    CHECK(store["error"].get<std::string>().find("full") != std::string::npos);
    CHECK(c.request({{"op", "kv.set"}, {"key", "a"}, {"value", 1}})["error"]["code"] ==
          "unavailable");
    // A load balancer's probe sees it too.
    auto health = healthz(j.daemon().port());
    CHECK(health.status == 503);
    CHECK(json::parse(health.body)["status"] == "unavailable");
    // Nothing half-accepted: only the jobs that got an ok exist.
    CHECK(c.request({{"op", "list"}, {"limit", 1000}})["jobs"].size() ==
          static_cast<std::size_t>(accepted + 1));
    CHECK(c.request({{"op", "ping"}})["pong"] == true);  // still serving

    fs::remove(filler);
    json recovered;
    REQUIRE(wait_for([&] {
        recovered = c.request({{"op", "submit"}, {"task", "echo"}, {"args", "after"}});
        return recovered["ok"] == true;
    }));
    CHECK(c.request({{"op", "stats"}})["store"]["writable"] == true);
    CHECK(healthz(j.daemon().port()).status == 200);
    CHECK(get(c, kept["id"])["job"]["result"] == "before");
    // Finished (a wait is answered once the end is committed), so not lost below.
    CHECK(get(c, recovered["job"]["id"], 10)["job"]["state"] == "succeeded");
    j.kill_9();
    j.start();
    LineClient again(j.daemon().port());
    CHECK(get(again, recovered["job"]["id"], 10)["job"]["result"] == "after");
}

TEST_CASE("durability.a_job_cancelled_before_it_ran_stays_cancelled" * doctest::timeout(60)) {
    Journaled j(json{{"thread_pool", {{"size", 1}}}, {"store", {{"sync", "full"}}}});
    j.start();
    json cancelled;
    {
        LineClient c(j.daemon().port());
        auto blocker = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 30}}}});
        wait_running(c, blocker["id"]);
        auto queued = submit(c, {{"task", "echo"}, {"args", "never"}});
        REQUIRE(c.request({{"op", "cancel"}, {"job", queued["id"]}})["ok"] == true);
        cancelled = get(c, queued["id"], 10)["job"];
        REQUIRE(cancelled["state"] == "cancelled");
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    auto after = get(c, cancelled["id"])["job"];
    CHECK(after == cancelled);
    CHECK(after["attempts"] == 0);
}

TEST_CASE("durability.a_job_queued_again_after_a_failed_attempt_comes_back_queued" *
          doctest::timeout(60)) {
    Journaled j(json{{"thread_pool", {{"size", 1}}}, {"store", {{"sync", "full"}}}});
    j.start();
    json retried;
    {
        LineClient c(j.daemon().port());
        retried = submit(
            c,
            {{"task", "sleep"}, {"args", {{"seconds", 30}}}, {"timeout_s", 0.5}, {"retries", 1}});
        wait_running(c, retried["id"]);
        // No thread left once this attempt times out: it waits, queued again.
        c.request({{"op", "resize"}, {"pool", "thread"}, {"size", 0}});
        REQUIRE(wait_for([&] {
            auto job = get(c, retried["id"])["job"];
            return job["state"] == "queued" && job["attempts"] == 1;
        }));
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    // Queued, with its one retry spent: the attempt after the restart is its last.
    auto after = get(c, retried["id"], 20)["job"];
    CHECK(after["state"] == "failed");
    CHECK(after["error"]["code"] == "timeout");
    CHECK(after["attempts"] == 2);
}

TEST_CASE("durability.jobs_due_later_back_offs_and_retries_survive_kill_9" * doctest::timeout(60)) {
    Journaled j(json{{"thread_pool", {{"size", 1}}}, {"store", {{"sync", "full"}}}});
    j.start();
    json later;
    json backing_off;
    json retried;
    {
        LineClient c(j.daemon().port());
        later = submit(c, {{"task", "echo"}, {"args", "later"}, {"delay_s", 2}});
        backing_off = submit(c, {{"task", "fail"}, {"retries", 1}, {"retry_backoff_s", 2}});
        REQUIRE(wait_for([&] { return get(c, backing_off["id"])["job"]["state"] == "scheduled"; }));
        // Retried with no thread to run it: it stays queued through the kill.
        retried = submit(c, {{"task", "echo"}, {"args", "retried"}, {"delay_s", 3600}});
        c.request({{"op", "cancel"}, {"job", retried["id"]}});
        c.request({{"op", "resize"}, {"pool", "thread"}, {"size", 0}});
        REQUIRE(c.request({{"op", "retry"}, {"job", retried["id"]}})["job"]["state"] == "queued");
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    auto backoff = get(c, backing_off["id"])["job"];
    CHECK(backoff["state"] == "scheduled");
    CHECK(backoff["scheduled_for"].is_string());

    auto done = get(c, later["id"], 20)["job"];
    CHECK(done["state"] == "succeeded");
    CHECK(done["started_at"].get<std::string>() >= done["scheduled_for"].get<std::string>());
    auto failed = get(c, backing_off["id"], 20)["job"];
    CHECK(failed["state"] == "failed");
    CHECK(failed["attempts"] == 2);
    CHECK(failed["started_at"].get<std::string>() >= backoff["scheduled_for"].get<std::string>());
    auto again = get(c, retried["id"], 20)["job"];
    CHECK(again["state"] == "succeeded");
    CHECK(again["result"] == "retried");
}

TEST_CASE("durability.jobs_waiting_for_others_survive_kill_9" * doctest::timeout(60)) {
    Journaled j(json{{"store", {{"sync", "full"}}}});
    j.start();
    json parent;
    json child;
    json released;
    {
        LineClient c(j.daemon().port());
        parent = submit(c, {{"task", "echo"}, {"args", "parent"}, {"delay_s", 1.5}});
        child = submit(c, {{"task", "echo"}, {"args", "child"}, {"after", {parent["id"]}}});
        // Released at once (its parent has succeeded), then kept queued by a pool of none.
        auto done = submit(c, {{"task", "echo"}, {"wait", true}});
        c.request({{"op", "resize"}, {"pool", "thread"}, {"size", 0}});
        released = submit(c, {{"task", "echo"}, {"args", "released"}, {"after", {done["id"]}}});
        CHECK(released["state"] == "queued");
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    CHECK(get(c, child["id"])["job"]["state"] == "waiting");
    CHECK(get(c, released["id"], 20)["job"]["result"] == "released");
    auto ran = get(c, child["id"], 20)["job"];
    CHECK(ran["state"] == "succeeded");
    CHECK(ran["result"] == "child");
    CHECK(ran["started_at"].get<std::string>() >=
          get(c, parent["id"])["job"]["finished_at"].get<std::string>());
}

TEST_CASE("durability.a_follow_up_and_its_parent_survive_kill_9" * doctest::timeout(60)) {
    Journaled j(json{{"store", {{"sync", "full"}}}});
    j.start();
    json parent;
    json unsuited;
    {
        LineClient c(j.daemon().port());
        parent = submit(c, {{"task", "echo"},
                            {"args", "first"},
                            {"then", {{"task", "echo"}, {"delay_s", 1}}},
                            {"wait", true}});
        unsuited = submit(
            c,
            {{"task", "echo"}, {"then", {{"task", "fib"}, {"args", {{"n", 1}}}}}, {"wait", true}});
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    CHECK(get(c, parent["id"])["job"] == parent);
    CHECK(get(c, unsuited["id"])["job"]["then_error"] == unsuited["then_error"]);
    auto follow_up = get(c, parent["then_job"], 20)["job"];
    CHECK(follow_up["state"] == "succeeded");
    CHECK(follow_up["result"] == json{{"result", "first"}});
}

TEST_CASE("durability.a_maps_then_follows_its_batch_across_kill_9" * doctest::timeout(60)) {
    Journaled j(json{{"store", {{"sync", "full"}}}});
    j.start();
    json batch;
    {
        LineClient c(j.daemon().port());
        // Two items end before the kill; the third is running, and runs again after.
        auto reply = c.request({{"op", "map"},
                                {"task", "sleep"},
                                {"items", {{{"seconds", 0}}, {{"seconds", 0}}, {{"seconds", 1.5}}}},
                                {"retries", 1},
                                {"then", {{"task", "echo"}}}});
        REQUIRE(reply["ok"] == true);
        batch = reply["jobs"];
        wait_running(c, batch[2]["id"]);
        // A change acknowledged after the start is committed after it, in journal order:
        // without it the kill may come before the start is written, and the job runs once.
        REQUIRE(c.request({{"op", "kv.set"}, {"key", "started"}, {"value", true}})["ok"] == true);
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    auto last = get(c, batch[2]["id"], 20)["job"];
    CHECK(last["state"] == "succeeded");
    CHECK(last["attempts"] == 2);
    std::vector<json> follow_ups;
    REQUIRE(wait_for([&] {
        follow_ups.clear();
        auto listed = c.request({{"op", "list"}});
        for (const auto& job : listed["jobs"]) {
            if (job["task"] == "echo") {
                follow_ups.push_back(job);
            }
        }
        return !follow_ups.empty();
    }));
    REQUIRE(follow_ups.size() == 1);  // once, however the batch was split by the kill
    json results = json::array();
    for (const auto& job : batch) {
        results.push_back(get(c, job["id"])["job"]["result"]);
    }
    CHECK(follow_ups[0]["args"] == json{{"results", results}});
}

TEST_CASE("durability.a_normal_stop_leaves_the_queue_as_a_kill_9_would" * doctest::timeout(60)) {
    // The drain outlasts its timeout and turns into `now`: the running job is
    // stopped, and neither it nor the queued ones are decided for the user.
    Journaled j(json{{"thread_pool", {{"size", 1}}}, {"shutdown", {{"drain_timeout_s", 0.3}}}});
    j.start();
    json running;
    std::vector<json> queued;
    {
        LineClient c(j.daemon().port());
        running = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 1}}}});
        wait_running(c, running["id"]);
        for (int i = 0; i < 20; ++i) {
            queued.push_back(submit(c, {{"task", "echo"}, {"args", i}}));
        }
    }
    j.daemon().signal(SIGTERM);
    REQUIRE(j.daemon().wait_exit(20s) == 0);
    CHECK(j.daemon().log().find("stay queued in the journal") != std::string::npos);
    j.start();
    LineClient c(j.daemon().port());
    auto again = get(c, running["id"], 20)["job"];
    CHECK(again["state"] == "succeeded");
    CHECK(again["attempts"] == 1);  // the stopped attempt did not count
    for (const auto& job : queued) {
        CHECK(get(c, job["id"], 20)["job"]["state"] == "succeeded");
    }
}

namespace {

/// A journal that tests/data/make_journal.sh made with the taskpoold of an earlier
/// format, killed with -9 while two sleeps ran and three echo jobs (one with a key,
/// two of a map) were queued; and the ids of its jobs.
struct OldJournal {
    const char* file;
    const char* expired;  // finished long ago: past its retention
    const char* lost;     // running, without retries
    const char* again;    // running, with a retry left
    const char* keyed;    // queued, with the key compat-key and priority 3
    std::array<const char*, 2> items;
    const char* batch;
    bool queue_set = false;  // format 6 on: queue.set gave the queue `mail` 2/m
};

/// It loads, every job as it was left, and is moved to the current format once.
void check_old_journal(const OldJournal& old) {
    TempDir dir;
    fs::copy_file(fs::path(TASKPOOL_SOURCE_DIR) / "tests/data" / old.file,
                  dir.path() / "journal.db");
    Journaled j(json{{"jobs", {{"result_ttl_s", 60}}}}, dir.path() / "journal.db");
    j.start();
    LineClient c(j.daemon().port());
    CHECK(get(c, old.expired)["error"]["code"] == "no_such_job");
    auto lost = get(c, old.lost)["job"];
    CHECK(lost["state"] == "failed");
    CHECK(lost["error"]["code"] == "lost");
    auto again = get(c, old.again, 20)["job"];
    CHECK(again["state"] == "succeeded");
    CHECK(again["attempts"] == 2);
    auto keyed = get(c, old.keyed, 20)["job"];
    CHECK(keyed["result"] == json{{"queued", 1}});
    CHECK(keyed["priority"] == 3);
    CHECK_FALSE(keyed.contains("submitted_by"));
    CHECK(submit(c, {{"task", "echo"}, {"args", 0}, {"key", "compat-key"}})["id"] == keyed["id"]);
    for (const char* id : old.items) {
        auto item = get(c, id, 20)["job"];
        CHECK(item["state"] == "succeeded");
        CHECK(item["batch"] == old.batch);
    }
    CHECK(c.request({{"op", "kv.get"}, {"key", "greeting"}})["value"] == "hello");
    CHECK(c.request({{"op", "kv.get"}, {"key", "n"}})["value"] == 7);
    // The webhook that was not delivered is being tried again (nothing listens there).
    auto hooks = c.request({{"op", "stats"}})["callbacks"];
    CHECK(hooks["pending"].get<int>() + hooks["failed"].get<int>() == 1);
    if (old.queue_set) {
        auto queues = c.request({{"op", "queue.list"}})["queues"];
        REQUIRE(queues.size() == 1);
        CHECK(queues[0]["name"] == "mail");
        CHECK(queues[0]["rate_limit"] == "2/m");
    }
    CHECK(submit(c, {{"task", "echo"}, {"args", 1}})["id"] > std::string(old.items[1]));

    // Moved to the current format once, and read back from it as it was.
    j.daemon().signal(SIGTERM);
    REQUIRE(j.daemon().wait_exit(10s) == 0);
    CHECK(query(j.path(), "PRAGMA user_version") == "7");
    CHECK(query(j.path(), "SELECT count(*) FROM remote_tasks") == "0");
    CHECK(query(j.path(), "SELECT count(*) FROM queues") == (old.queue_set ? "1" : "0"));
    CHECK(query(j.path(), "SELECT count(*) FROM jobs WHERE queue IS NOT NULL") == "0");
    CHECK(query(j.path(), "SELECT count(*) FROM schedules") == "0");
    CHECK(query(j.path(), "SELECT count(*) FROM jobs WHERE schedule IS NOT NULL") == "0");
    CHECK(integrity(j.path()) == "ok");
    j.start();
    LineClient after(j.daemon().port());
    CHECK(get(after, lost["id"])["job"] == lost);
    CHECK(get(after, again["id"])["job"] == again);
    CHECK(get(after, keyed["id"])["job"] == keyed);
}

}  // namespace

TEST_CASE("durability.queue_limits_pauses_and_queued_jobs_of_a_queue_survive_kill_9" *
          doctest::timeout(60)) {
    Journaled j(
        json{{"store", {{"sync", "full"}}},
             {"queues", {{"mail", {{"max_concurrency", 1}}}, {"bulk", {{"rate_limit", "5/s"}}}}}});
    j.start();
    json held;
    {
        LineClient c(j.daemon().port());
        c.request({{"op", "queue.set"}, {"queue", "mail"}, {"rate_limit", "2/m"}});
        c.request({{"op", "pause"}, {"queue", "mail"}});
        c.request({{"op", "pause"}, {"pool", "process"}});
        held = submit(c, {{"task", "echo"}, {"args", "held"}, {"queue", "mail"}});
        CHECK(held["state"] == "queued");
    }
    j.kill_9();
    j.start();
    LineClient c(j.daemon().port());
    auto queues = c.request({{"op", "queue.list"}})["queues"];
    REQUIRE(queues.size() == 2);
    CHECK(queues[0]["name"] == "bulk");  // from the config, untouched
    CHECK(queues[0]["rate_limit"] == "5/s");
    // Set at run time: over the config's, and still paused with its job.
    CHECK(queues[1]["name"] == "mail");
    CHECK(queues[1]["max_concurrency"] == 1);
    CHECK(queues[1]["rate_limit"] == "2/m");
    CHECK(queues[1]["paused"] == true);
    CHECK(queues[1]["queued"] == 1);
    auto stats = c.request({{"op", "stats"}});
    CHECK(stats["pools"]["process"]["paused"] == true);
    CHECK(stats["pools"]["thread"]["paused"] == false);
    CHECK(get(c, held["id"], 0.5)["job"]["state"] == "queued");
    CHECK(get(c, held["id"])["job"]["queue"] == "mail");

    c.request({{"op", "resume"}, {"queue", "mail"}});
    c.request({{"op", "resume"}, {"pool", "process"}});
    CHECK(get(c, held["id"], 20)["job"]["state"] == "succeeded");
    j.kill_9();
    j.start();
    {
        LineClient again(j.daemon().port());
        CHECK(again.request({{"op", "queue.list"}})["queues"][1]["paused"] == false);
        CHECK(again.request({{"op", "stats"}})["pools"]["process"]["paused"] == false);
    }
    j.kill_9();

    // The config changed: what no op set follows it, pauses included; the rate an
    // op set stays.
    Journaled edited(json{{"queues", {{"mail", {{"max_concurrency", 3}}}}}}, j.path());
    edited.start();
    LineClient after(edited.daemon().port());
    auto mail = after.request({{"op", "queue.list"}})["queues"][0];
    CHECK(mail["name"] == "mail");
    CHECK(mail["max_concurrency"] == 3);
    CHECK(mail["rate_limit"] == "2/m");
}

namespace {

double seconds_of(const json& time) {
    auto t = taskpool::proto::parse_timestamp(time.get<std::string>());
    REQUIRE(t.has_value());
    return std::chrono::duration<double>(t->time_since_epoch()).count();
}

/// The submit times of the jobs a schedule has submitted.
std::vector<double> fired_at(LineClient& c, const std::string& schedule) {
    std::vector<double> times;
    auto listed = c.request({{"op", "list"}, {"limit", 1000}});
    for (const auto& job : listed["jobs"]) {
        if (job.value("schedule", "") == schedule) {
            times.push_back(seconds_of(job["submitted_at"]));
        }
    }
    return times;
}

}  // namespace

TEST_CASE("durability.schedules_and_their_last_firing_survive_kill_9" * doctest::timeout(60)) {
    Journaled j(json{{"schedules", {{"conf", {{"task", "echo"}, {"every_s", 1}}}}}});
    j.start();
    {
        LineClient c(j.daemon().port());
        auto set = [&](json fields) {
            fields["op"] = "schedule.set";
            fields["task"] = "echo";
            REQUIRE(c.request(fields)["ok"] == true);
        };
        set({{"name", "one"}, {"every_s", 1}});
        set({{"name", "skip"}, {"every_s", 1}, {"catch_up", "none"}});
        set({{"name", "held"}, {"cron", "0 3 * * *"}, {"paused", true}});
        set({{"name", "gone"}, {"every_s", 60}});
        REQUIRE(c.request({{"op", "schedule.del"}, {"name", "gone"}})["ok"] == true);
        REQUIRE(wait_for(
            [&] {
                return !fired_at(c, "one").empty() && !fired_at(c, "skip").empty() &&
                       !fired_at(c, "conf").empty();
            },
            10s));
    }
    j.kill_9();
    // Each schedule's last firing is its newest job: both went in one commit.
    CHECK(query(j.path(),
                "SELECT count(*) FROM schedules s WHERE last_job IS NOT (SELECT id FROM jobs "
                "WHERE schedule = s.name ORDER BY seq DESC LIMIT 1)") == "0");
    auto conf_next_ms =
        std::stoll(query(j.path(), "SELECT next_at FROM schedules WHERE name = 'conf'"));
    std::this_thread::sleep_for(2500ms);  // their times pass while it is down

    double restarted =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    j.start();
    LineClient c(j.daemon().port());
    auto listed = c.request({{"op", "schedule.list"}})["schedules"];
    REQUIRE(listed.size() == 4);  // conf, held, one, skip: the deleted one stays deleted
    std::map<std::string, json> by_name;
    for (const auto& s : listed) {
        by_name[s["name"].get<std::string>()] = s;
    }
    CHECK(by_name.count("gone") == 0);
    CHECK(by_name["held"]["paused"] == true);
    CHECK(by_name["held"]["next_at"].is_null());
    CHECK(by_name["conf"]["from_config"] == true);
    CHECK(by_name["one"]["from_config"] == false);

    // What fired between the restart and each one's next time after it: `one`
    // caught up once, `skip` skipped what it missed.
    auto between = [&](const std::string& name) {
        REQUIRE(wait_for([&] { return fired_at(c, name).size() >= 2; }, 10s));
        double next = seconds_of(by_name[name]["next_at"]);
        CHECK(next > restarted);
        auto times = fired_at(c, name);
        return std::count_if(times.begin(), times.end(),
                             [&](double t) { return t >= restarted && t < next - 0.001; });
    };
    CHECK(between("one") == 1);
    CHECK(between("skip") == 0);
    CHECK(j.daemon().log().find("schedule 'skip': its time") != std::string::npos);
    // The config's keeps its cadence across the restart.
    auto conf_next = std::llround(seconds_of(by_name["conf"]["next_at"]) * 1000);
    CHECK(conf_next > conf_next_ms);
    CHECK((conf_next - conf_next_ms) % 1000 == 0);
}

TEST_CASE("durability.a_journal_of_format_1_still_loads" * doctest::timeout(60)) {
    check_old_journal({"journal-v1.db",
                       "j-01M84ED08TWB21TKP5PJZR7P3R",
                       "j-01M84ED09E1M38YRD34XAAKX4F",
                       "j-01M84ED09NFCWM98E64V08YSA1",
                       "j-01M84ED09X25YEJEWZNM531RPJ",
                       {"j-01M84ED0A7G3X5736KC22B8KYH", "j-01M84ED0A7G3X5736KC22B8KYJ"},
                       "b-01M84ED0A7G3X5736KC22B8KYG"});
}

TEST_CASE("durability.a_journal_of_format_2_still_loads" * doctest::timeout(60)) {
    check_old_journal({"journal-v2.db",
                       "j-01M952ZNWXWRH6R417WN9P9D5V",
                       "j-01M952ZNX271GN1VZEYR8D5GVB",
                       "j-01M952ZNX5QNP1NBRNEEGF04SK",
                       "j-01M952ZNX7T0ZE7XS67KS2MKBM",
                       {"j-01M952ZNX96959EY54322SM07Q", "j-01M952ZNX96959EY54322SM07R"},
                       "b-01M952ZNX96959EY54322SM07P"});
}

TEST_CASE("durability.a_journal_of_format_6_still_loads" * doctest::timeout(60)) {
    check_old_journal({"journal-v6.db",
                       "j-01M97K2V830GF75N0ZNXVKT47E",
                       "j-01M97K2V8FSAG0YT6XV584C21K",
                       "j-01M97K2V8QYQR75MBSGEDJMFKV",
                       "j-01M97K2V8Y3HJFQQZHG8V3ETSP",
                       {"j-01M97K2V9249QR0C45C761B7NC", "j-01M97K2V9249QR0C45C761B7ND"},
                       "b-01M97K2V9249QR0C45C761B7NB",
                       true});
}

TEST_CASE("durability.a_bad_record_is_skipped_and_the_rest_restored" * doctest::timeout(30)) {
    Journaled j;
    j.start();
    json bad, good;
    {
        LineClient c(j.daemon().port());
        bad = submit(c, {{"task", "echo"}, {"args", "bad"}, {"wait", true}});
        good = submit(c, {{"task", "echo"}, {"args", "good"}, {"wait", true}});
    }
    j.daemon().signal(SIGTERM);
    REQUIRE(j.daemon().wait_exit(10s) == 0);
    {
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(j.path().c_str(), &db) == SQLITE_OK);
        std::string sql =
            "UPDATE jobs SET args = '{broken' WHERE id = '" + bad["id"].get<std::string>() + "'";
        CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
    }
    j.start();
    LineClient c(j.daemon().port());
    CHECK(get(c, bad["id"])["error"]["code"] == "no_such_job");
    CHECK(get(c, good["id"])["job"]["result"] == "good");
    auto log = j.daemon().log();
    CHECK(log.find("skipped job " + bad["id"].get<std::string>()) != std::string::npos);
}

TEST_CASE("durability.an_unreadable_journal_stops_the_start_with_one_line" * doctest::timeout(30)) {
    TempDir dir;
    auto path = dir.path() / "journal.db";
    auto start = [&] {
        return run_command(
            {binary_path("taskpoold"), "--listen", "127.0.0.1:0", "--store", path.string()});
    };
    SUBCASE("garbage") {
        std::ofstream(path) << std::string(8192, 'g');
    }
    SUBCASE("another program's database") {
        sqlite3* db = nullptr;
        sqlite3_open(path.c_str(), &db);
        sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1)", nullptr, nullptr, nullptr);
        sqlite3_close(db);
    }
    SUBCASE("a corrupt page") {
        {
            Journaled j(json::object(), path);
            j.start();
            LineClient c(j.daemon().port());
            for (int i = 0; i < 200; ++i) {
                submit(c, {{"task", "echo"}, {"args", std::string(1000, 'a')}});
            }
            j.daemon().signal(SIGTERM);
            REQUIRE(j.daemon().wait_exit(10s) == 0);
        }
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(4096 + 100);  // into the second page: a table's b-tree
        std::string junk(2000, '\xA5');
        f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto result = start();
    CHECK(result.exit_code == 1);
    std::string out = result.out + result.err;
    CHECK(out.find(path.string()) != std::string::npos);
    CHECK_MESSAGE(std::count(out.begin(), out.end(), '\n') == 1, out);
}

TEST_CASE("durability.without_a_store_nothing_touches_the_disk" * doctest::timeout(30)) {
    DaemonProcess d;
    LineClient c(d.port());
    submit(c, {{"task", "echo"}, {"args", 1}, {"wait", true}});
    c.request({{"op", "kv.set"}, {"key", "a"}, {"value", 1}});
    CHECK(c.request({{"op", "stats"}})["store"].is_null());
    std::set<std::string> in_dir;
    for (const auto& entry : fs::directory_iterator(d.dir().path())) {
        in_dir.insert(entry.path().filename());
    }
    CHECK(in_dir == std::set<std::string>{"taskpool.json", "taskpoold.log"});
    // No regular file open but its log, its binary, and what it inherited (as this
    // test did).
    auto open_files = [](const std::string& pid) {
        std::set<fs::path> files;
        for (const auto& fd : fs::directory_iterator("/proc/" + pid + "/fd")) {
            std::error_code ec;
            auto target = fs::read_symlink(fd.path(), ec);
            if (!ec && fs::is_regular_file(target)) {
                files.insert(target);
            }
        }
        return files;
    };
    auto inherited = open_files("self");
    // Its own binary it holds to start workers from, even if the file is replaced.
    auto binary = fs::read_symlink("/proc/" + std::to_string(d.pid()) + "/exe");
    for (const auto& file : open_files(std::to_string(d.pid()))) {
        if (inherited.count(file) == 0 && file != binary) {
            CHECK(file.filename() == "taskpoold.log");
        }
    }
}
