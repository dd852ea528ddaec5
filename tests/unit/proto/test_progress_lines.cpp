#include "proto/progress_lines.hpp"

#include <doctest/doctest.h>

using namespace taskpool::proto;
using nlohmann::json;

namespace {

std::optional<json> feed(ProgressLines& lines, std::string_view chunk) {
    auto value = lines.feed(chunk);
    return value ? std::optional<json>(value->parse()) : std::nullopt;
}

}  // namespace

TEST_CASE("proto.progress_lines.the_last_whole_line_of_a_read_is_the_value") {
    ProgressLines lines;
    CHECK(feed(lines, "1\n2\n") == json(2));              // only the latest counts
    CHECK(feed(lines, "{\"pct\":") == std::nullopt);      // not a whole line yet
    CHECK(feed(lines, " 40}\r\n") == json{{"pct", 40}});  // CRLF as LF
    CHECK(feed(lines, "resizing\nstep \xff\n") == json("step \xef\xbf\xbd"));  // text is a string
    CHECK(feed(lines, "\n") == std::nullopt);  // an empty line says nothing
}

TEST_CASE("proto.progress_lines.a_line_too_long_is_dropped_whole") {
    ProgressLines lines;
    std::string huge(ProgressLines::max_line + 1, 'x');
    CHECK(feed(lines, huge.substr(0, 1000)) == std::nullopt);
    CHECK(feed(lines, huge.substr(1000) + "\n") == std::nullopt);
    CHECK(feed(lines, "after\n") == json("after"));
    CHECK(feed(lines, std::string(ProgressLines::max_line, 'y') + "\n") ==
          json(std::string(ProgressLines::max_line, 'y')));
}
