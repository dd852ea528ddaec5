#include "proto/json_writer.hpp"

#include <string>

#include <doctest/doctest.h>

using nlohmann::json;
using taskpool::proto::json_text;
using taskpool::proto::JsonWriter;

TEST_CASE("json_writer.a_tree_is_written_as_compact_json") {
    json tree = json::parse(
        R"({"b": [1, -2, 18446744073709551615, 2.0, 0.1, true, null], "a": {"s": "x\"\\\n\u0001é"}})");
    CHECK(json_text(tree) ==
          R"({"a":{"s":"x\"\\\n\u0001é"},"b":[1,-2,18446744073709551615,2.0,0.1,true,null]})");
    CHECK(json::parse(json_text(tree)) == tree);
    CHECK(json_text(json::object()) == "{}");
    CHECK(json_text(json::array()) == "[]");
    CHECK(json_text(json(nullptr)) == "null");
}

TEST_CASE("json_writer.containers_after_containers_get_their_commas_at_any_depth") {
    json tree = json::parse(R"([[],{},[[]],{"a":[{},{"b":[]}],"c":{}},1])");
    CHECK(json_text(tree) == R"([[],{},[[]],{"a":[{},{"b":[]}],"c":{}},1])");
    // Deeper than a request may be: a task's result is not bound by that limit.
    json deep = json::array();
    for (int i = 0; i < 200; ++i) {
        deep = json::array({deep, i});
    }
    CHECK(json::parse(json_text(deep)) == deep);
}

TEST_CASE("json_writer.bytes_that_are_not_utf8_become_replacement_characters") {
    CHECK(json_text(json("a\xff\xc3")) == "\"a\xEF\xBF\xBD\xEF\xBF\xBD\"");
    CHECK(json_text(json("\xe2\x82\xac")) == "\"\xe2\x82\xac\"");  // a whole sequence stays
}

TEST_CASE("json_writer.fields_and_raw_values_are_separated") {
    JsonWriter w;
    w.begin_object();
    w.field("n", 1);
    w.field("tree", json{{"k", {1, 2}}});
    w.field("raw", taskpool::proto::RawJson(json{{"x", "y"}}));
    w.key("list").begin_array().value("a").value(2.5).null().end_array();
    w.end_object();
    CHECK(std::move(w).take() ==
          R"({"n":1,"tree":{"k":[1,2]},"raw":{"x":"y"},"list":["a",2.5,null]})");
}

TEST_CASE("json_writer.every_byte_is_escaped_the_same_at_every_place_in_a_long_string") {
    // Long strings are scanned eight bytes at a time, short ones byte by byte: a
    // byte must come out the same either way, wherever it falls in the words.
    using taskpool::proto::append_json_string;
    for (int b = 0; b < 256; ++b) {
        std::string alone;
        append_json_string(alone, std::string(1, static_cast<char>(b)));
        std::string inner = alone.substr(1, alone.size() - 2);
        for (std::size_t at = 0; at < 17; ++at) {
            std::string s(17, 'a');
            s[at] = static_cast<char>(b);
            std::string out;
            append_json_string(out, s);
            REQUIRE_MESSAGE(out == '"' + s.substr(0, at) + inner + s.substr(at + 1) + '"',
                            "byte " << b << " at " << at);
        }
    }
}
