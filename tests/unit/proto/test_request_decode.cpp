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
    CHECK(s.args == json{{"n", 3}});
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
          "field 'wait' must be true, false or a number of seconds >= 0");
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
    // Brackets inside strings do not count.
    CHECK(decode(R"({"op":"submit","task":"echo","args":")" + std::string(500, '[') + "\"}")
              .body.ok());
}

TEST_CASE("proto.request.encode_then_decode_round_trips") {
    SubmitOptions options;
    options.priority = 9;
    options.wait = 2.5;
    options.notify = true;
    Request req{json(42), SubmitRequest{"echo", json{{"a", 1}}, std::string("key"), options}};
    std::string line = encode_request(req);
    CHECK(line.back() == '\n');
    auto d = decode(line.substr(0, line.size() - 1));
    REQUIRE(d.body.ok());
    CHECK(d.id == json(42));
    auto& s = std::get<SubmitRequest>(d.body.value());
    CHECK(s.task == "echo");
    CHECK(s.args == json{{"a", 1}});
    CHECK(s.key == "key");
    CHECK(s.options.priority == 9);
    CHECK(s.options.wait == 2.5);
    CHECK(s.options.notify);
}
