#include "proto/job.hpp"

#include <doctest/doctest.h>

#include "proto/reply.hpp"

using namespace taskpool::proto;
using nlohmann::json;

TEST_CASE("proto.job.timestamps_have_three_fractional_digits_in_utc") {
    Timestamp t{std::chrono::milliseconds(1795341600123)};
    CHECK(format_timestamp(t) == "2026-11-22T10:00:00.123Z");
    CHECK(parse_timestamp("2026-11-22T10:00:00.123Z") == t);
    CHECK_FALSE(parse_timestamp("2026-11-22 10:00:00").has_value());
    CHECK(format_timestamp(Timestamp{}) == "1970-01-01T00:00:00.000Z");
    // A leap day, the last millisecond of a day, and every second of one day agree
    // with the parser (which goes through timegm).
    CHECK(format_timestamp(*parse_timestamp("2024-02-29T23:59:59.999Z")) ==
          "2024-02-29T23:59:59.999Z");
    auto day = *parse_timestamp("2100-12-31T00:00:00.007Z");
    for (int s = 0; s < 86400; s += 7) {
        auto when = day + std::chrono::seconds(s);
        CHECK(parse_timestamp(format_timestamp(when)) == when);
    }
    // Within one second only the milliseconds change; then the second does.
    CHECK(format_timestamp(t + std::chrono::milliseconds(1)) == "2026-11-22T10:00:00.124Z");
    CHECK(format_timestamp(t + std::chrono::milliseconds(877)) == "2026-11-22T10:00:01.000Z");
    CHECK(format_timestamp(t - std::chrono::milliseconds(124)) == "2026-11-22T09:59:59.999Z");
}

TEST_CASE("proto.job.rfc_3339_is_read_with_any_fraction_and_offset") {
    auto t = *parse_timestamp("2026-12-06T10:00:00.000Z");
    CHECK(parse_timestamp("2026-12-06T10:00:00Z") == t);
    CHECK(parse_timestamp("2026-12-06t10:00:00z") == t);
    CHECK(parse_timestamp("2026-12-06 10:00:00Z") == t);
    CHECK(parse_timestamp("2026-12-06T12:00:00+02:00") == t);
    CHECK(parse_timestamp("2026-12-06T04:30:00-05:30") == t);
    CHECK(parse_timestamp("2026-12-06T10:00:00.5Z") == t + std::chrono::milliseconds(500));
    CHECK(parse_timestamp("2026-12-06T10:00:00.123456789Z") == t + std::chrono::milliseconds(123));
    for (const char* bad :
         {"2026-12-06T10:00:00", "2026-12-06T10:00Z", "2026-13-06T10:00:00Z",
          "2026-12-06T24:00:00Z", "2026-12-06T10:00:00.Z", "2026-12-06T10:00:00+0200",
          "2026-12-06T10:00:00Zjunk", "tomorrow", ""}) {
        CHECK_MESSAGE(!parse_timestamp(bad).has_value(), bad);
    }
}

TEST_CASE("proto.json_writer.escapes_only_what_json_needs") {
    std::string out;
    append_json_string(out, "plain text, then \"quotes\" \\ \n\t\x01 and caf\xC3\xA9 \xFF.");
    CHECK(out ==
          "\"plain text, then \\\"quotes\\\" \\\\ \\n\\t\\u0001 and caf\xC3\xA9 \xEF\xBF\xBD.\"");
    CHECK(json::parse(out) ==
          "plain text, then \"quotes\" \\ \n\t\x01 and caf\xC3\xA9 \xEF\xBF\xBD.");
}

TEST_CASE("proto.job.encode_decode_round_trip") {
    Job job;
    job.id = "j-1";
    job.task = "fib";
    job.args = RawJson(json{{"n", 30}});
    job.pool = PoolKind::process;
    job.priority = 3;
    job.state = JobState::failed;
    job.error = JobError{JobErrorCode::timeout, "ran longer than 5 s"};
    job.attempts = 2;
    job.worker = WorkerInfo{4242, 1};
    job.submitted_at = Timestamp{std::chrono::milliseconds(1000)};
    job.started_at = Timestamp{std::chrono::milliseconds(2000)};
    job.finished_at = Timestamp{std::chrono::milliseconds(3000)};
    auto encoded = json::parse(encode_job(job));
    CHECK(encoded["error"] == json{{"code", "timeout"}, {"message", "ran longer than 5 s"}});
    CHECK(encoded["worker"] == json{{"pid", 4242}, {"thread", 1}});
    CHECK_FALSE(encoded.contains("result"));
    auto decoded = decode_job(encoded);
    REQUIRE(decoded.ok());
    CHECK(decoded->id == job.id);
    CHECK(decoded->args == job.args);
    CHECK(decoded->state == job.state);
    CHECK(decoded->error == job.error);
    CHECK(decoded->worker == job.worker);
    CHECK(decoded->finished_at == job.finished_at);
}

TEST_CASE("proto.job.invalid_utf8_output_becomes_replacement_characters") {
    Job job;
    job.id = "j-2";
    job.task = "x";
    job.state = JobState::succeeded;
    job.result = RawJson(json("ok \xff\xfe end"));
    std::string line = encode_job(job);
    auto parsed = json::parse(line);  // would throw on invalid UTF-8
    CHECK(parsed["result"] == "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
}

TEST_CASE("proto.reply.shapes") {
    CHECK(encode_ok(json(1), json{{"pong", true}}) == "{\"id\":1,\"ok\":true,\"pong\":true}\n");
    CHECK(encode_ok(std::nullopt) == "{\"ok\":true}\n");
    CHECK(encode_error(json(nullptr), Error{ErrorCode::bad_request, "bad \"x\""}) ==
          "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"bad_request\",\"message\":\"bad "
          "\\\"x\\\"\"}}\n");
}

TEST_CASE("proto.error.codes_round_trip_through_their_wire_names") {
    for (auto code :
         {ErrorCode::bad_request, ErrorCode::unknown_op, ErrorCode::unauthorized,
          ErrorCode::no_such_task, ErrorCode::no_such_job, ErrorCode::queue_full,
          ErrorCode::message_too_large, ErrorCode::too_many_connections, ErrorCode::unavailable,
          ErrorCode::not_cancellable, ErrorCode::shutting_down, ErrorCode::internal}) {
        CHECK(error_code_from_string(to_string(code)) == code);
    }
    CHECK(to_string(JobErrorCode::worker_crashed) == "worker_crashed");
    CHECK_FALSE(error_code_from_string("nope").has_value());
}
