#include "proto/raw_json.hpp"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "proto/json_dom.hpp"

using nlohmann::json;
using taskpool::proto::RawJson;

TEST_CASE("raw_json.holds_compact_text_and_parses_back") {
    CHECK(RawJson().text() == "null");
    CHECK(RawJson(json(nullptr)).text() == "null");
    json value = {{"n", 30}, {"list", {1, "two", nullptr}}};
    RawJson raw(value);
    CHECK(raw.text() == R"({"list":[1,"two",null],"n":30})");
    CHECK(raw.parse() == value);
}

TEST_CASE("raw_json.bytes_that_are_not_utf8_become_replacement_characters") {
    CHECK(RawJson(json("a\xff"
                       "b"))
              .text() ==
          "\"a\xEF\xBF\xBD"
          "b\"");
}

TEST_CASE("raw_json.from_text_takes_only_one_valid_value") {
    CHECK(RawJson::from_text(R"({"a": [1, 2]})")->text() == R"({"a": [1, 2]})");
    CHECK_FALSE(RawJson::from_text("{broken"));
    CHECK_FALSE(RawJson::from_text("1 2"));
    CHECK_FALSE(RawJson::from_text(""));
}

TEST_CASE("raw_json.copies_share_the_text_and_outlive_the_original") {
    auto original = std::make_unique<RawJson>(json(std::string(1000, 'x')));
    RawJson copy = *original;
    CHECK(copy.text().data() == original->text().data());
    original.reset();
    CHECK(copy.text().size() == 1002);
    RawJson assigned;
    assigned = copy;
    assigned = assigned;
    RawJson moved = std::move(copy);
    CHECK(assigned == moved);
    // Copies made and dropped on many threads at once (run under TSan and ASan).
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&moved, &wrong] {
            for (int i = 0; i < 10000; ++i) {
                RawJson c = moved;
                wrong += c.text().size() != 1002 ? 1 : 0;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(wrong == 0);
    CHECK(moved.text().size() == 1002);
}

TEST_CASE("raw_json.of_simdjson_element_is_compact_and_means_what_the_tree_does") {
    // What a request's args become without a tree: the value a tree would hold,
    // its numbers written as a tree writes them, its keys in the order sent.
    for (std::string_view text :
         {R"({"b":[1,-2,18446744073709551615,2.0,1e10,0.1],"a":{"s":"\u00e9\n\"q\""},"z":null})",
          R"("just a string")", "12345678901234567890123", "[ ]", "{ }", "true", "null",
          R"({"k":1,"k":2})", R"([2.0, 1e10])"}) {
        CAPTURE(text);
        auto root = taskpool::proto::parse_dom(text);
        REQUIRE(root.ok());
        auto raw = taskpool::proto::raw_json(*root);
        CHECK(raw.parse() == json::parse(text));
        CHECK(raw.is_null() == (text == "null"));
    }
    auto text_of = [](std::string_view text) {
        return std::string(taskpool::proto::raw_json(*taskpool::proto::parse_dom(text)).text());
    };
    CHECK(text_of(R"({ "b" : 1, "a" : [ 2.0, 1e10 ] })") == R"({"b":1,"a":[2.0,10000000000.0]})");
    CHECK(text_of(R"({"k":1,"j":0,"k":{"k":2,"k":3}})") == R"({"j":0,"k":{"k":3}})");
    std::string many = "{";
    for (int i = 0; i < 40; ++i) {
        many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    }
    many += R"("k3":"last"})";
    CHECK(taskpool::proto::raw_json(*taskpool::proto::parse_dom(many)).parse()["k3"] == "last");
    CHECK(text_of(many).find(R"("k3":3)") == std::string::npos);
}

TEST_CASE("raw_json.compact_json_minifies_and_refuses_what_is_not_json") {
    auto compact = taskpool::proto::compact_json("{ \"a\" :\n [ 1 , 2 ] }\n");
    REQUIRE(compact.ok());
    CHECK(compact->text() == R"({"a":[1,2]})");
    auto broken = taskpool::proto::compact_json("{\"a\":");
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.error().message.rfind("invalid JSON", 0) == 0);
    std::string huge = "[\"" + std::string(taskpool::proto::huge_json_bytes, 'x') + "\" ]";
    auto big = taskpool::proto::compact_json(huge);
    REQUIRE(big.ok());
    CHECK(big->text().size() == huge.size() - 1);
}
