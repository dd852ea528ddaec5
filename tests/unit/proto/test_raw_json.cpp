#include "proto/raw_json.hpp"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

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
