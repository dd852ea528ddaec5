#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "../support/daemon_process.hpp"
#include "../support/wait_for.hpp"
#include "taskpool/client.hpp"
#include "taskpool/worker.hpp"

using namespace taskpool::test;
using nlohmann::json;

namespace {

/// A worker's run() on a thread of its own, stopped and joined when it goes.
class Serving {
public:
    Serving(taskpool::Worker& worker, std::function<void()> run)
        : worker_(worker), thread_(std::move(run)) {}
    ~Serving() {
        worker_.stop();
        thread_.join();
    }
    Serving(const Serving&) = delete;
    Serving& operator=(const Serving&) = delete;

private:
    taskpool::Worker& worker_;
    std::thread thread_;
};

/// Not taskpoold: it answers a worker's hello and registration, sends it `line`,
/// and keeps the next line the worker sends.
class FakeDaemon {
public:
    explicit FakeDaemon(std::string line)
        : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}),
          thread_([this, line = std::move(line)] { serve(line); }) {}
    ~FakeDaemon() {
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    FakeDaemon(const FakeDaemon&) = delete;
    FakeDaemon& operator=(const FakeDaemon&) = delete;

    std::string address() const {
        return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
    }
    /// The line the worker sent after `line`; empty if it closed instead.
    std::string answer() {
        thread_.join();
        return answer_;
    }

private:
    void serve(const std::string& line) {
        asio::ip::tcp::socket socket(io_);
        acceptor_.accept(socket);
        asio::streambuf in;
        std::error_code ec;
        auto read_line = [&] {
            asio::read_until(socket, in, '\n', ec);
            std::string text;
            std::istream stream(&in);
            std::getline(stream, text);
            return ec ? std::string() : text;
        };
        auto send = [&](const std::string& text) {
            asio::write(socket, asio::buffer(text + "\n"), ec);
        };
        auto hello = json::parse(read_line());
        send(json{{"id", hello["id"]}, {"ok", true}, {"protocol", 1}, {"server", "fake"}}.dump());
        auto registration = json::parse(read_line());
        send(json{
            {"id", registration["id"]}, {"ok", true}, {"worker", "w-fake"}, {"heartbeat_s", 30}}
                 .dump());
        send(line);
        answer_ = read_line();
    }

    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::string answer_;
    std::thread thread_;
};

}  // namespace

TEST_CASE("client_lib.a_worker_refuses_an_assignment_it_cannot_read" * doctest::timeout(30)) {
    FakeDaemon fake(R"({"event": "job.assign", "job": {"task": "echo", "args": 1}})");
    auto worker = taskpool::Worker::connect(fake.address());
    REQUIRE(worker.ok());
    worker->task("echo", [](const json& args, taskpool::JobContext&) { return args; });
    auto served = worker->run();
    REQUIRE_FALSE(served.ok());
    CHECK(served.error().kind == taskpool::ClientError::Kind::protocol);
    CHECK(served.error().message.find("without the job's id and task") != std::string::npos);
}

TEST_CASE("client_lib.a_worker_fails_a_job_of_a_task_it_does_not_serve" * doctest::timeout(30)) {
    FakeDaemon fake(
        R"({"event": "job.assign", "job": {"id": "j-1", "task": "nope", "args": null, "attempts": 1}})");
    auto worker = taskpool::Worker::connect(fake.address());
    REQUIRE(worker.ok());
    worker->task("echo", [](const json& args, taskpool::JobContext&) { return args; });
    std::thread serving([&] { (void)worker->run(); });  // ends when the fake closes
    auto answer = json::parse(fake.answer());
    serving.join();
    CHECK(answer["op"] == "job.fail");
    CHECK(answer["job"] == "j-1");
    CHECK(answer["error"]["type"] == "unknown_task");
    CHECK(answer["error"]["message"] == "this worker has no task 'nope'");
}

TEST_CASE("client_lib.submit_get_cancel_list_and_events" * doctest::timeout(30)) {
    DaemonProcess d;
    auto client = taskpool::Client::connect(d.address());
    REQUIRE(client.ok());
    CHECK(client->server_info()["server"] == "taskpoold");
    CHECK(client->ping().ok());

    taskpool::proto::SubmitOptions wait;
    wait.wait = std::numeric_limits<double>::infinity();
    auto job = client->submit("fib", {{"n", 10}}, wait);
    REQUIRE(job.ok());
    CHECK(job->state == taskpool::proto::JobState::succeeded);
    CHECK(job->result->parse() == json{{"n", 10}, {"value", 55}});

    taskpool::proto::SubmitOptions notify;
    notify.notify = true;
    auto sleeping = client->submit("sleep", {{"seconds", 30}}, notify);
    REQUIRE(sleeping.ok());
    auto started = client->next_event(10);
    REQUIRE(started.ok());
    CHECK(started->name == "job.started");
    auto cancelled = client->cancel(sleeping->id);
    REQUIRE(cancelled.ok());
    CHECK(cancelled->state == taskpool::proto::JobState::cancelled);
    auto finished = client->next_event(10);
    REQUIRE(finished.ok());
    CHECK(finished->name == "job.finished");

    auto jobs = client->list();
    REQUIRE(jobs.ok());
    CHECK(jobs->size() == 2);

    auto missing = client->get("j-missing");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == taskpool::ClientError::Kind::request);
    CHECK(missing.error().code == taskpool::proto::ErrorCode::no_such_job);

    auto none = client->next_event(0.1);
    CHECK(none.error().kind == taskpool::ClientError::Kind::timeout);
}

TEST_CASE("client_lib.wrong_token_and_no_daemon" * doctest::timeout(30)) {
    DaemonProcess d({.env = {{"TASKPOOL_TOKEN", "t"}}});
    auto wrong = taskpool::Client::connect(d.address(), std::string("x"));
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().code == taskpool::proto::ErrorCode::unauthorized);
    CHECK(taskpool::Client::connect(d.address(), std::string("t")).ok());
    auto none = taskpool::Client::connect("127.0.0.1:1");
    CHECK(none.error().kind == taskpool::ClientError::Kind::connection);
}

TEST_CASE("client_lib.callbacks_run_once_each_with_their_job" * doctest::timeout(60)) {
    DaemonProcess d;
    auto client = taskpool::Client::connect(d.address());
    REQUIRE(client.ok());
    std::map<std::string, int> done;  // job id -> calls
    std::map<std::string, int> errors;
    std::map<std::string, json> results;
    auto on_done = [&](const taskpool::proto::Job& job) {
        ++done[job.id];
        results[job.id] = job.result->parse();
    };
    auto on_error = [&](const taskpool::proto::Job& job) { ++errors[job.id]; };

    std::vector<std::string> ids;
    for (int n = 0; n < 10; ++n) {
        auto job = client->submit_async("fib", {{"n", n}}, on_done, on_error);
        REQUIRE(job.ok());
        ids.push_back(job->id);
    }
    auto failing = client->submit_async("fail", {{"message", "no"}}, on_done, on_error);
    auto batch = client->map_async("echo", {1, 2, 3}, on_done, on_error);
    REQUIRE(failing.ok());
    REQUIRE(batch.ok());
    // A plain call in between: events that come meanwhile wait for run_callbacks.
    CHECK(client->ping().ok());
    CHECK(client->pending_callbacks() == 14);
    REQUIRE(client->run_callbacks(30).ok());
    CHECK(client->pending_callbacks() == 0);

    for (int n = 0; n < 10; ++n) {
        CHECK(done[ids[n]] == 1);
        CHECK(results[ids[n]]["n"] == n);
    }
    CHECK(errors.size() == 1);
    CHECK(errors[failing->id] == 1);
    CHECK(done.count(failing->id) == 0);
    for (std::size_t i = 0; i < batch->jobs.size(); ++i) {
        CHECK(results[batch->jobs[i].id] == json(i + 1));
    }
    CHECK(done.size() == 13);

    // A callback may submit more: the chain runs to its end in one run_callbacks.
    int chain = 0;
    std::function<void(const taskpool::proto::Job&)> next = [&](const taskpool::proto::Job&) {
        if (++chain < 5) {
            REQUIRE(client->submit_async("echo", chain, next).ok());
        }
    };
    REQUIRE(client->submit_async("echo", 0, next).ok());
    REQUIRE(client->run_callbacks(30).ok());
    CHECK(chain == 5);

    // Nothing pending: returns at once. A job that cannot end in time: a timeout.
    CHECK(client->run_callbacks(1).ok());
    REQUIRE(client->submit_async("sleep", {{"seconds", 30}}, on_done).ok());
    auto late = client->run_callbacks(0.2);
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().kind == taskpool::ClientError::Kind::timeout);
    CHECK(client->pending_callbacks() == 1);
}

TEST_CASE("client_lib.the_apply_async_example_runs" * doctest::timeout(60)) {
    DaemonProcess d;
    auto r = run_command({TASKPOOL_EXAMPLE_APPLY_ASYNC_PATH, d.address()});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("6 jobs pending") != std::string::npos);
    CHECK(r.out.find("fib(30) = 832040") != std::string::npos);
    CHECK(r.out.find("job fail failed: on purpose") != std::string::npos);
    CHECK(r.out.find("sum of the values: 914495") != std::string::npos);
}

TEST_CASE("client_lib.a_large_map_goes_in_chunks_and_comes_back_in_order" * doctest::timeout(120)) {
    DaemonProcess d;
    auto client = taskpool::Client::connect(d.address());
    REQUIRE(client.ok());
    std::vector<json> items;
    for (int i = 0; i < 100000; ++i) {
        items.emplace_back(i);
    }
    taskpool::proto::SubmitOptions wait;
    wait.wait = std::numeric_limits<double>::infinity();
    auto batch = client->map("echo", items, wait);
    REQUIRE_MESSAGE(batch.ok(), batch.error().message);
    CHECK(batch->batches.size() == 100);
    REQUIRE(batch->jobs.size() == items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        REQUIRE(batch->jobs[i].result->parse() == items[i]);
    }
    // A refused chunk fails the call and says what had been accepted.
    std::vector<json> fibs(1500, json{{"n", 1}});
    fibs[1200] = json{{"n", "x"}};
    auto refused = client->map("fib", fibs);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == taskpool::proto::ErrorCode::bad_request);
    CHECK(refused.error().message.find("accepted 1000 of the items, as batch(es) b-") !=
          std::string::npos);
}

TEST_CASE("client_lib.a_worker_serves_tasks_on_threads" * doctest::timeout(60)) {
    DaemonProcess d;
    auto worker = taskpool::Worker::connect(d.address());
    REQUIRE(worker.ok());
    std::atomic<int> at_once = 0;
    std::atomic<int> most = 0;
    worker->task("double", [&](const json& args, taskpool::JobContext& job) {
        int now = ++at_once;
        most = std::max(most.load(), now);
        job.progress({{"half", true}});
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        --at_once;
        if (args.at("n") == 13) {
            throw taskpool::TaskFailure("Unlucky", "13 is not doubled");
        }
        return json{{"n", args.at("n").get<int>() * 2}};
    });
    worker->task("wait", [](const json&, taskpool::JobContext& job) {
        while (!job.cancelled()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return json("stopped");
    });
    Serving serving(*worker, [&] { CHECK(worker->run(2, "lib-worker").ok()); });

    auto client = taskpool::Client::connect(d.address());
    REQUIRE(client.ok());
    REQUIRE(wait_for([&] {  // registered: its tasks are known
        return client->call(taskpool::proto::TasksRequest{})->dump().find("\"double\"") !=
               std::string::npos;
    }));
    taskpool::proto::SubmitOptions wait;
    wait.wait = 30;
    std::vector<json> items;
    for (int i = 0; i < 6; ++i) {
        items.emplace_back(json{{"n", i}});
    }
    auto batch = client->map("double", items, wait);
    REQUIRE(batch.ok());
    for (int i = 0; i < 6; ++i) {
        CHECK(batch->jobs[i].result->parse() == json{{"n", 2 * i}});
        CHECK(batch->jobs[i].progress->parse() == json{{"half", true}});
        CHECK(batch->jobs[i].worker->name == "lib-worker");
    }
    CHECK(most == 2);  // its capacity
    auto unlucky = client->submit("double", {{"n", 13}}, wait);
    REQUIRE(unlucky.ok());
    CHECK(unlucky->error->message == "Unlucky: 13 is not doubled");

    auto waiting = client->submit("wait");
    REQUIRE(waiting.ok());
    REQUIRE(wait_for(
        [&] { return client->get(waiting->id)->state == taskpool::proto::JobState::running; }));
    CHECK(client->cancel(waiting->id).ok());
    // Cancelled, the task stopped and its slot came back.
    CHECK(client->submit("double", {{"n", 1}}, wait)->result->parse() == json{{"n", 2}});
}

TEST_CASE("client_lib.a_worker_with_prefetch_holds_jobs_beyond_its_threads" *
          doctest::timeout(60)) {
    DaemonProcess d;
    auto worker = taskpool::Worker::connect(d.address());
    REQUIRE(worker.ok());
    std::atomic<int> at_once = 0;
    std::atomic<int> most = 0;
    worker->task("nap", [&](const json&, taskpool::JobContext&) {
        most = std::max(most.load(), ++at_once);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        --at_once;
        return json(true);
    });
    Serving serving(*worker, [&] { CHECK(worker->run(1, "prefetching", 3).ok()); });
    auto client = taskpool::Client::connect(d.address());
    REQUIRE(client.ok());
    REQUIRE(wait_for([&] {
        auto stats = client->call(taskpool::proto::StatsRequest{});
        return stats.ok() && (*stats)["pools"]["remote"]["workers"].size() == 1;
    }));
    auto stats = client->call(taskpool::proto::StatsRequest{});
    CHECK((*stats)["pools"]["remote"]["workers"][0]["capacity"] == 3);
    taskpool::proto::SubmitOptions wait;
    wait.wait = 30;
    auto batch = client->map("nap", {json(1), json(2), json(3)}, wait);
    REQUIRE(batch.ok());
    for (const auto& job : batch->jobs) {
        CHECK(job.state == taskpool::proto::JobState::succeeded);
    }
    CHECK(most == 1);  // one thread ran them, one after another
    // All three were sent at once: the last began (was sent) before the first ended.
    CHECK(*batch->jobs[2].started_at < *batch->jobs[0].finished_at);
}

TEST_CASE("client_lib.a_worker_stopped_before_or_while_it_registers_returns_cleanly" *
          doctest::timeout(30)) {
    DaemonProcess d;
    auto worker = taskpool::Worker::connect(d.address());
    REQUIRE(worker.ok());
    worker->task("idle", [](const json& args, taskpool::JobContext&) { return args; });
    worker->stop();  // as a signal handler might, before run() has registered
    auto served = worker->run();
    std::string why = served.ok() ? "" : served.error().message;
    CHECK(why == "");

    // And a stop that races run(), landing before, during or after registration.
    for (int i = 0; i < 30; ++i) {
        auto racing = taskpool::Worker::connect(d.address());
        REQUIRE(racing.ok());
        racing->task("idle", [](const json& args, taskpool::JobContext&) { return args; });
        std::thread stopper([&racing, i] {
            std::this_thread::sleep_for(std::chrono::microseconds(100 * i));
            racing->stop();
        });
        auto raced = racing->run();
        stopper.join();
        CHECK_MESSAGE(raced.ok(), (raced.ok() ? "" : raced.error().message));
    }
}
