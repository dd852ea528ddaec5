#include <limits>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "taskpool/client.hpp"

using namespace taskpool::test;
using nlohmann::json;

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
    CHECK(job->result == json{{"n", 10}, {"value", 55}});

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
