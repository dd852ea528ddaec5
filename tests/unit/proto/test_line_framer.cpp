#include "proto/line_framer.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

using taskpool::proto::LineFramer;
using FramerStatus = LineFramer::Status;

namespace {

std::vector<std::string> drain(LineFramer& f) {
    std::vector<std::string> lines;
    for (;;) {
        auto frame = f.next();
        if (frame.status != FramerStatus::line) {
            return lines;
        }
        lines.emplace_back(frame.line);
    }
}

}  // namespace

TEST_CASE("proto.line_framer.splits_lines_and_drops_cr_and_blanks") {
    LineFramer f(100);
    f.feed("a\nb\r\n\n  \r\nc");
    CHECK(drain(f) == std::vector<std::string>{"a", "b"});
    CHECK(f.has_partial());
    f.feed("\n");
    CHECK(drain(f) == std::vector<std::string>{"c"});
    CHECK_FALSE(f.has_partial());
}

TEST_CASE("proto.line_framer.lines_split_across_many_feeds") {
    LineFramer f(100);
    std::string stream = "{\"op\":\"ping\"}\n{\"op\":\"hello\"}\n{\"op\":\"stats\"}\n";
    std::vector<std::string> lines;
    for (char c : stream) {
        f.feed(std::string(1, c));
        auto got = drain(f);
        lines.insert(lines.end(), got.begin(), got.end());
    }
    CHECK(lines == std::vector<std::string>{"{\"op\":\"ping\"}", "{\"op\":\"hello\"}",
                                            "{\"op\":\"stats\"}"});
}

TEST_CASE("proto.line_framer.one_line_after_another_in_separate_reads") {
    LineFramer f(100);
    f.feed("first\n");
    CHECK(drain(f) == std::vector<std::string>{"first"});
    f.feed("second\n");
    CHECK(drain(f) == std::vector<std::string>{"second"});
    f.feed("thi");
    CHECK(drain(f).empty());
    f.feed("rd\nfou");
    CHECK(drain(f) == std::vector<std::string>{"third"});
    f.feed("rth\n");
    CHECK(drain(f) == std::vector<std::string>{"fourth"});
}

TEST_CASE("proto.line_framer.limit_is_exact") {
    LineFramer f(5);
    f.feed("12345\n12345\r\n");
    CHECK(drain(f) == std::vector<std::string>{"12345", "12345"});
    f.feed("123456\n");
    CHECK(f.next().status == FramerStatus::too_large);
    CHECK(f.too_large());
}

TEST_CASE("proto.line_framer.too_large_is_reported_before_the_line_ends") {
    LineFramer f(10);
    f.feed(std::string(11, 'x'));
    CHECK(f.next().status == FramerStatus::too_large);
}

TEST_CASE("proto.line_framer.a_partial_line_at_the_limit_may_still_end_in_crlf") {
    LineFramer f(4);
    f.feed("abcd\r");
    CHECK(f.next().status == FramerStatus::incomplete);
    f.feed("\n");
    CHECK(drain(f) == std::vector<std::string>{"abcd"});
}

TEST_CASE("proto.line_framer.buffers_no_more_than_the_limit_of_a_flood") {
    LineFramer f(1000);
    for (int i = 0; i < 1000; ++i) {
        f.feed(std::string(64 * 1024, 'y'));
    }
    CHECK(f.next().status == FramerStatus::too_large);
    // The state is final: nothing more is framed.
    f.feed("\nok\n");
    CHECK(f.next().status == FramerStatus::too_large);
}

TEST_CASE("proto.line_framer.complete_lines_before_a_long_tail_are_kept") {
    LineFramer f(8);
    f.feed("one\ntwo\n" + std::string(100, 'z'));
    CHECK(drain(f) == std::vector<std::string>{"one", "two"});
    CHECK(f.next().status == FramerStatus::too_large);
}
