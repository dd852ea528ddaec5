#include "proto/request.hpp"

#include <cmath>

#include <doctest/doctest.h>

using namespace taskpool::proto;
using nlohmann::json;

namespace {

DecodedRequest decode(const std::string& line) {
    return decode_request_line(line);
}

std::string error_of(const std::string& line) {
    auto d = decode(line);
    REQUIRE_FALSE(d.body.ok());
    return d.body.error().message;
}

}  // namespace

TEST_CASE("proto.request.submit_with_every_option") {
    auto d = decode(
        R"({"op":"submit","id":"a1","task":"fib","args":{"n":3},"pool":"process","priority":-5,)"
        R"("timeout_s":1.5,"retries":2,"key":"k","wait":true,"block_s":3,"notify":true,"bind":true})");
    REQUIRE(d.body.ok());
    CHECK(d.id == json("a1"));
    auto& s = std::get<SubmitRequest>(d.body.value());
    CHECK(s.task == "fib");
    CHECK(s.args.parse() == json{{"n", 3}});
    CHECK(s.options.pool == PoolKind::process);
    CHECK(s.options.priority == -5);
    CHECK(s.options.timeout_s == 1.5);
    CHECK(s.options.retries == 2);
    CHECK(s.key == "k");
    CHECK(std::isinf(*s.options.wait));
    CHECK(s.options.block_s == 3);
    CHECK(s.options.notify);
    CHECK(s.options.bind);
}

TEST_CASE("proto.request.jobs_due_later_and_back_off") {
    auto d = decode(R"({"op":"submit","task":"t","delay_s":30,"retry_backoff_s":0.5})");
    REQUIRE(d.body.ok());
    auto& s = std::get<SubmitRequest>(d.body.value());
    CHECK(s.options.delay_s == 30);
    CHECK(s.options.retry_backoff_s == 0.5);
    auto at = decode(R"({"op":"map","task":"t","items":[1],"run_at":"2030-01-01T00:00:00Z"})");
    REQUIRE(at.body.ok());
    CHECK(std::get<MapRequest>(at.body.value()).options.run_at ==
          parse_timestamp("2030-01-01T00:00:00.000Z"));
    auto unix_s = decode(R"({"op":"submit","task":"t","run_at":1893456000.25})");
    REQUIRE(unix_s.body.ok());
    CHECK(std::get<SubmitRequest>(unix_s.body.value()).options.run_at ==
          parse_timestamp("2030-01-01T00:00:00.250Z"));
    CHECK(error_of(R"({"op":"submit","task":"t","delay_s":1,"run_at":1893456000})")
              .find("field 'run_at' cannot be given with delay_s") == 0);
    CHECK(error_of(R"({"op":"submit","task":"t","run_at":"soon"})")
              .find("field 'run_at' must be an RFC 3339 time") == 0);
    CHECK(error_of(R"({"op":"submit","task":"t","delay_s":-1})").find("field 'delay_s'") == 0);
    CHECK(error_of(R"({"op":"retry"})") == "field 'job' is required");
    auto retry = decode(R"({"op":"retry","job":"j-1"})");
    REQUIRE(retry.body.ok());
    CHECK(std::get<RetryRequest>(retry.body.value()).job == "j-1");
}

TEST_CASE("proto.request.errors_name_the_field") {
    CHECK(error_of(R"({"op":"submit"})") == "field 'task' is required");
    CHECK(error_of(R"({"op":"submit","task":1})") == "field 'task' must be a string");
    CHECK(error_of(R"({"op":"submit","task":"x","priority":101})") ==
          "field 'priority' must be an integer from -100 to 100");
    CHECK(error_of(R"({"op":"submit","task":"x","priority":1.5})") ==
          "field 'priority' must be an integer from -100 to 100");
    CHECK(error_of(R"({"op":"submit","task":"x","pool":"gpu"})") ==
          "field 'pool' must be one of \"thread\", \"process\"");
    CHECK(error_of(R"({"op":"submit","task":"x","colour":"red"})") == "unknown field 'colour'");
    CHECK(error_of(R"({"op":"get"})") == "field 'job' is required");
    CHECK(error_of(R"({"op":"get","job":"j","wait":-1})") ==
          "field 'wait' must be true, false or a number of seconds from 0 to 31622400");
    // Past the cap, not an overflow that returns at once: every duration is bounded.
    CHECK(error_of(R"({"op":"get","job":"j","wait":1e10})") ==
          "field 'wait' must be true, false or a number of seconds from 0 to 31622400");
    CHECK(error_of(R"({"op":"submit","task":"t","wait":1e10})").find("field 'wait'") == 0);
    CHECK(error_of(R"({"op":"submit","task":"t","block_s":1e10})").find("field 'block_s'") == 0);
    CHECK(error_of(R"({"op":"submit","task":"t","timeout_s":1e10})").find("field 'timeout_s'") ==
          0);
    CHECK(error_of(R"({"op":"list","limit":0})") ==
          "field 'limit' must be an integer from 1 to 100000");
    CHECK(error_of(R"({"op":"shutdown","mode":"later"})") ==
          "field 'mode' must be one of \"drain\", \"now\"");
    CHECK(
        error_of(R"({"op":"submit","task":"x","callback":{"url":"http://x","events":["queued"]}})")
            .find("callback.events") != std::string::npos);
}

TEST_CASE("proto.request.ids_are_echoed_even_on_errors") {
    auto d = decode(R"({"op":"nope","id":7})");
    CHECK(d.id == json(7));
    CHECK(d.body.error().code == ErrorCode::unknown_op);
    auto bad_field = decode(R"({"op":"ping","id":"x","extra":1})");
    CHECK(bad_field.id == json("x"));
    CHECK(bad_field.body.error().code == ErrorCode::bad_request);
}

TEST_CASE("proto.request.bad_lines_get_bad_request_with_null_id") {
    for (std::string line :
         {std::string("not json"), std::string("[1,2]"), std::string("\"str\""),
          std::string(R"({"op":"ping","id":[1]})"), std::string(R"({"op":"ping","id":1.5})"),
          std::string("{\"op\":\"\xff\"}"),
          // A number past double's range: nlohmann throws out_of_range, not parse_error.
          std::string("77e774*$"), std::string(R"({"op":"ping","id":1e999})")}) {
        auto d = decode(line);
        CHECK_MESSAGE(d.id == json(nullptr), line);
        REQUIRE_FALSE(d.body.ok());
        CHECK(d.body.error().code == ErrorCode::bad_request);
    }
}

TEST_CASE("proto.request.nesting_is_bounded_before_parsing") {
    std::string deep = R"({"op":"submit","task":"echo","args":)" + std::string(100000, '[') +
                       std::string(100000, ']') + "}";
    CHECK(error_of(deep) == "nesting deeper than 64 levels");
    std::string ok_depth = R"({"op":"submit","task":"echo","args":)" + std::string(62, '[') +
                           std::string(62, ']') + "}";
    CHECK(decode(ok_depth).body.ok());
    // 64 levels of containers on the line (the request object and 63 arrays) pass,
    // whatever the innermost holds; 65 do not.
    auto nested = [](int arrays, const std::string& inner) {
        return R"({"op":"submit","task":"echo","args":)" + std::string(arrays, '[') + inner +
               std::string(arrays, ']') + "}";
    };
    for (std::string inner : {"", "1", "\"x\""}) {
        CAPTURE(inner);
        CHECK(decode(nested(63, inner)).body.ok());
        CHECK(error_of(nested(64, inner)) == "nesting deeper than 64 levels");
    }
    for (std::string inner : {"{}", "{\"a\":1}"}) {  // a container itself
        CHECK(decode(nested(62, inner)).body.ok());
        CHECK(error_of(nested(63, inner)) == "nesting deeper than 64 levels");
    }
    // Brackets inside strings do not count.
    CHECK(decode(R"({"op":"submit","task":"echo","args":")" + std::string(500, '[') + "\"}")
              .body.ok());
}

TEST_CASE("proto.request.encode_then_decode_round_trips") {
    SubmitOptions options;
    options.priority = 9;
    options.wait = 2.5;
    options.notify = true;
    Request req{json(42),
                SubmitRequest{"echo", RawJson(json{{"a", 1}}), std::string("key"), options}};
    std::string line = encode_request(req);
    CHECK(line.back() == '\n');
    auto d = decode(line.substr(0, line.size() - 1));
    REQUIRE(d.body.ok());
    CHECK(d.id == json(42));
    auto& s = std::get<SubmitRequest>(d.body.value());
    CHECK(s.task == "echo");
    CHECK(s.args.parse() == json{{"a", 1}});
    CHECK(s.key == "key");
    CHECK(s.options.priority == 9);
    CHECK(s.options.wait == 2.5);
    CHECK(s.options.notify);
}

TEST_CASE("proto.request.a_repeated_field_keeps_its_last_value") {
    auto d =
        decode(R"({"op":"ping","id":1,"op":"submit","task":"nope","args":{"a":1},"task":"echo",)"
               R"("args":{"b":2},"id":"last"})");
    REQUIRE(d.body.ok());
    CHECK(d.id == json("last"));
    auto& s = std::get<SubmitRequest>(d.body.value());
    CHECK(s.task == "echo");
    CHECK(s.args.parse() == json{{"b", 2}});
}

TEST_CASE("proto.request.fields_past_the_listed_count_are_found_too") {
    // Many fields, then one alone in its slot: found all the same.
    std::string line = R"({"op":"ping")";
    for (int i = 0; i < 70000; ++i) {
        line += R"(,"op":"submit")";
    }
    line += R"(,"args":[1],"task":"echo"})";
    auto d = decode(line);
    REQUIRE(d.body.ok());
    CHECK(std::get<SubmitRequest>(d.body.value()).task == "echo");
}

TEST_CASE("proto.request.values_become_the_trees_a_json_parser_builds") {
    auto d = decode(R"({"op":"map","task":"echo","items":[{"n":123456789012345678901234567890},)"
                    R"(-1,18446744073709551615,[true,null,"s"],{"k":{"k":2.5}}]})");
    REQUIRE(d.body.ok());
    auto& m = std::get<MapRequest>(d.body.value());
    REQUIRE(m.items.size() == 5);
    // Past 64 bits an integer becomes the nearest double, as nlohmann reads it.
    CHECK(m.items[0].parse()["n"].is_number_float());
    CHECK(m.items[0].parse()["n"].get<double>() == doctest::Approx(1.2345678901234568e29));
    CHECK(m.items[1].parse() == json(-1));
    CHECK(m.items[2].parse().is_number_unsigned());
    CHECK(m.items[2].parse().get<std::uint64_t>() == 18446744073709551615ULL);
    CHECK(m.items[3].parse() == json::parse(R"([true,null,"s"])"));
    CHECK(m.items[4].parse() == json::parse(R"({"k":{"k":2.5}})"));

    auto cas = decode(R"({"op":"kv.cas","key":"k","expect":null,"value":{"a":[1]}})");
    REQUIRE(cas.body.ok());
    auto& c = std::get<KvCasRequest>(cas.body.value());
    CHECK(c.expect.is_null());
    CHECK(c.value == json::parse(R"({"a":[1]})"));
    CHECK(error_of(R"({"op":"kv.set","key":"k"})") ==
          "field 'value' is required (null is allowed)");
}

TEST_CASE("proto.request.numbers_are_checked_by_value_not_by_spelling") {
    auto whole = decode(R"({"op":"list","limit":3.0})");
    REQUIRE(whole.body.ok());
    CHECK(std::get<ListRequest>(whole.body.value()).limit == 3);
    auto big = decode(R"({"op":"kv.incr","key":"k","by":-9223372036854775808})");
    REQUIRE(big.body.ok());
    CHECK(std::get<KvIncrRequest>(big.body.value()).by == INT64_MIN);
    for (const char* by : {"9223372036854775808", "18446744073709551615", "1e19", "0.5", "\"1\""}) {
        CHECK_MESSAGE(error_of(std::string(R"({"op":"kv.incr","key":"k","by":)") + by + "}")
                              .find("field 'by' must be an integer") == 0,
                      by);
    }
    auto id = decode(R"({"op":"ping","id":18446744073709551615})");
    CHECK(id.id == json(18446744073709551615ULL));
}

TEST_CASE("proto.request.nested_parts_are_checked_where_they_are") {
    CHECK(error_of(R"({"op":"submit","task":"x","callback":"http://x"})") ==
          "field 'callback' must be an object with a url");
    CHECK(error_of(R"({"op":"submit","task":"x","callback":{"url":"http://x","v":1}})") ==
          "field 'callback' is invalid: unknown field 'callback.v'");
    CHECK(error_of(R"({"op":"map","task":"x","items":{}})") ==
          "field 'items' must be a non-empty array with the args of each job");
    CHECK(error_of(R"({"op":"map","task":"x","items":[]})") ==
          "field 'items' must be a non-empty array with the args of each job");
    CHECK(error_of(R"({"op":"subscribe","jobs":["a",1]})") ==
          "field 'jobs' must be an array of strings");
    // Of several unknown fields, the first in the line is named.
    CHECK(error_of(R"({"op":"ping","zeta":1,"alpha":2})") == "unknown field 'zeta'");
}

TEST_CASE("proto.request.an_http_call_reads_its_body_with_the_parameters_on_top") {
    auto d = decode_call("submit", R"({"task":"echo","args":{"b":1,"a":[2]},"wait":1,"id":"x"})",
                         R"({"wait":5})");
    REQUIRE(d.body.ok());
    CHECK_FALSE(d.id);  // an HTTP call has no id: the response is the reply
    auto& s = std::get<SubmitRequest>(d.body.value());
    CHECK(s.task == "echo");
    CHECK(s.args.text() == R"({"b":1,"a":[2]})");
    CHECK(s.options.wait == 5);

    auto routed = decode_call("submit", R"({"op":"cancel","task":"echo"})", "{}");
    REQUIRE(routed.body.ok());  // the route's op, whatever the body says
    CHECK(std::holds_alternative<SubmitRequest>(routed.body.value()));

    auto get = decode_call("get", "{}", R"({"job":"j-1","wait":true})");
    REQUIRE(get.body.ok());
    CHECK(std::get<GetRequest>(get.body.value()).job == "j-1");

    auto wrong = decode_call("submit", R"({"task":"echo"})", R"({"wait":"soon"})");
    REQUIRE_FALSE(wrong.body.ok());
    CHECK(wrong.body.error().message.rfind("field 'wait' must be true, false or a number", 0) == 0);
    for (std::string body : {"", "[1]", "\"text\""}) {
        auto d2 = decode_call("map", body, "{}");
        REQUIRE_FALSE(d2.body.ok());
        CHECK(d2.body.error().message == "the body must be a JSON object with the map fields");
    }
    auto broken = decode_call("submit", R"({"task":)", "{}");
    REQUIRE_FALSE(broken.body.ok());
    CHECK(broken.body.error().message.rfind("invalid JSON", 0) == 0);
}
