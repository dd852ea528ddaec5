#include "daemon/pools/worker_protocol.hpp"

#include <sys/wait.h>

#include <doctest/doctest.h>

namespace pools = taskpool::daemon::pools;
namespace tasks = taskpool::daemon::tasks;
using taskpool::proto::JobError;
using taskpool::proto::JobErrorCode;
using taskpool::proto::RawJson;

namespace {

std::string worker_error(std::string_view line) {
    auto report = pools::decode_report(line);
    REQUIRE_FALSE(report.ok());
    return report.error().message;
}

}  // namespace

TEST_CASE("worker_protocol.a_run_goes_over_with_its_args_as_text") {
    tasks::Task echo;
    echo.name = "echo";
    taskpool::daemon::sched::Run run{7, "j-1", 2, 0, &echo, RawJson(nlohmann::json{{"n", 1}})};
    std::string line;
    pools::encode_run(run, line);
    CHECK(line.back() == '\n');
    line.pop_back();
    auto decoded = pools::decode_run(line);
    REQUIRE(decoded.ok());
    CHECK(decoded->job_id == "j-1");
    CHECK(decoded->attempt == 2);
    CHECK(decoded->task == "echo");
    CHECK(decoded->args.text() == R"({"n":1})");

    auto bad = pools::decode_run(R"({"job":"j-1","task":"echo"})");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message == "field 'attempt' is required");
}

TEST_CASE("worker_protocol.reports_decode_or_say_why_not") {
    auto ok = pools::encode_outcome("j-1", 1, RawJson(nlohmann::json{{"v", 2}}),
                                    std::chrono::microseconds(7));
    ok.pop_back();
    auto ended = pools::decode_report(ok);
    REQUIRE(ended.ok());
    auto& outcome = std::get<pools::RunEnded>(*ended);
    CHECK(outcome.job_id == "j-1");
    CHECK(outcome.ran == std::chrono::microseconds(7));
    CHECK(std::get<RawJson>(outcome.outcome).text() == R"({"v":2})");

    auto failed = pools::encode_outcome("j-1", 1, JobError{JobErrorCode::task_error, "no"},
                                        std::chrono::microseconds(1));
    failed.pop_back();
    auto error = pools::decode_report(failed);
    REQUIRE(error.ok());
    CHECK(std::get<JobError>(std::get<pools::RunEnded>(*error).outcome) ==
          JobError{JobErrorCode::task_error, "no"});

    auto child = pools::encode_child("j-1", 1, 4242);
    child.pop_back();
    auto started = pools::decode_report(child);
    REQUIRE(started.ok());
    CHECK(std::get<pools::ChildStarted>(*started).pgid == 4242);

    CHECK(worker_error("garbage").rfind("invalid JSON", 0) == 0);
    CHECK(worker_error("[1]") == "must be a JSON object");
    CHECK(worker_error(R"({"job":"j-1","attempt":1,"us":3})") ==
          "field 'result' or 'error' is required");
    CHECK(worker_error(R"({"job":"j-1","attempt":1,"us":3,"result":1,"extra":2})") ==
          "unknown field 'extra'");
    CHECK(worker_error(R"({"job":"j-1","attempt":1,"error":{"code":"task_error"}})") ==
          "field 'error.message' is required");
}

TEST_CASE("worker_protocol.exit_statuses_are_named") {
    auto exited = [](int code) { return code << 8; };  // as waitpid reports an exit
    REQUIRE(WIFEXITED(exited(3)));
    CHECK(pools::worker_exit_meaning(exited(3)) == "it could not become process_pool.user");
    CHECK(pools::worker_exit_meaning(exited(1)) == "the daemon that started it was gone");
    CHECK(pools::worker_exit_meaning(exited(77)).empty());
    CHECK(pools::worker_exit_meaning(SIGSEGV).empty());  // killed by a signal
}
