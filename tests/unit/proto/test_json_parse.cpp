#include "proto/json_parse.hpp"

#include <string>

#include <doctest/doctest.h>

using nlohmann::json;
using taskpool::proto::parse_json;

namespace {

/// What nlohmann's own parser makes of `text`, dumped, to compare trees exactly
/// (types included: 1 and 1u and 1.0 dump alike but compare by type here).
void check_same_as_nlohmann(const std::string& text) {
    auto ours = parse_json(text);
    REQUIRE(ours.ok());
    json theirs = json::parse(text);
    CHECK(*ours == theirs);
    CHECK(ours->dump() == theirs.dump());
    for (const auto& [key, value] : theirs.items()) {
        CHECK((*ours)[key].type() == value.type());
    }
}

}  // namespace

TEST_CASE("json_parse.builds_the_tree_nlohmann_builds") {
    check_same_as_nlohmann(
        R"({"pos": 7, "neg": -7, "zero": 0, "big": 18446744073709551615, "min": -9223372036854775808,)"
        R"( "real": 1.5, "exp": 1e300, "whole": 2.0, "s": "a\"\\\u00e9\ud83d\ude00", "t": true,)"
        R"( "f": false, "n": null, "list": [1, [2, {"x": []}], {}], "obj": {"k": "v"}})");
}

TEST_CASE("json_parse.a_repeated_key_keeps_its_last_value") {
    auto v = parse_json(R"({"a": 1, "a": 2})");
    REQUIRE(v.ok());
    CHECK((*v)["a"] == 2);
}

TEST_CASE("json_parse.integers_beyond_64_bits_read_as_doubles") {
    auto v = parse_json(R"({"n": 123456789012345678901234567890})");
    REQUIRE(v.ok());
    CHECK((*v)["n"].is_number_float());
    CHECK((*v)["n"].get<double>() == doctest::Approx(1.2345678901234568e29));
}

TEST_CASE("json_parse.nesting_up_to_the_limit_and_not_past_it") {
    auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
    CHECK(parse_json(nested(64)).ok());
    auto deep = parse_json(nested(65));
    REQUIRE_FALSE(deep.ok());
    CHECK(deep.error().message == "nesting deeper than 64 levels");
}

TEST_CASE("json_parse.errors_say_what_is_wrong") {
    auto bad = parse_json(R"({"a": })");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.rfind("invalid JSON: parse error at line 1, column 7", 0) == 0);
    CHECK_FALSE(parse_json("\"\xff\"").ok());  // not UTF-8
    CHECK_FALSE(parse_json("1e999").ok());     // out of range
    CHECK_FALSE(parse_json("").ok());
    CHECK_FALSE(parse_json("{} {}").ok());
}

TEST_CASE("json_parse.a_huge_line_then_small_ones") {
    std::string huge = "\"" + std::string(4 << 20, 'x') + "\"";
    auto v = parse_json(huge);
    REQUIRE(v.ok());
    CHECK(v->get_ref<const std::string&>().size() == 4u << 20);
    CHECK(parse_json(R"({"a": [1, 2, 3]})")->at("a").size() == 3);
    CHECK(parse_json(std::string(64, '[') + std::string(64, ']')).ok());
    CHECK_FALSE(parse_json(std::string(65, '[') + std::string(65, ']')).ok());
}
