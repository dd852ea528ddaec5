// Five-field cron in UTC (PROTOCOL.md section 13): what it accepts and when it fires.
#include "daemon/sched/cron.hpp"

#include <doctest/doctest.h>

using taskpool::daemon::sched::Cron;
using taskpool::proto::format_timestamp;
using taskpool::proto::parse_timestamp;

namespace {

/// When `expression` next fires after `after` (RFC 3339), as RFC 3339.
std::string next(const char* expression, const char* after) {
    auto cron = Cron::parse(expression);
    REQUIRE_MESSAGE(cron.ok(), cron.error().message);
    auto at = cron->next(*parse_timestamp(after));
    REQUIRE(at.has_value());
    return format_timestamp(*at);
}

std::string refusal(const char* expression) {
    auto cron = Cron::parse(expression);
    REQUIRE_FALSE(cron.ok());
    CHECK(cron.error().code == taskpool::proto::ErrorCode::bad_request);
    CHECK(cron.error().message.starts_with("field 'cron': "));
    return cron.error().message;
}

}  // namespace

TEST_CASE("cron.steps_lists_and_ranges") {
    CHECK(next("*/15 * * * *", "2026-12-07T10:07:30Z") == "2026-12-07T10:15:00.000Z");
    CHECK(next("*/15 * * * *", "2026-12-07T10:15:00Z") == "2026-12-07T10:30:00.000Z");
    CHECK(next("5/15 * * * *", "2026-12-07T10:21:00Z") == "2026-12-07T10:35:00.000Z");
    CHECK(next("0,30 8-10 * * *", "2026-12-07T10:30:00Z") == "2026-12-08T08:00:00.000Z");
    CHECK(next("0 0 * * *", "2026-12-07T10:00:00Z") == "2026-12-08T00:00:00.000Z");
    CHECK(next("0 0 1 1 *", "2026-12-07T10:00:00Z") == "2027-01-01T00:00:00.000Z");
    CHECK(next("* * * * *", "2026-12-31T23:59:59.999Z") == "2027-01-01T00:00:00.000Z");
}

TEST_CASE("cron.days_of_the_week_and_of_the_month") {
    // 2026-12-07 is a Monday.
    CHECK(next("30 9 * * 1-5", "2026-12-11T10:00:00Z") == "2026-12-14T09:30:00.000Z");
    CHECK(next("0 0 * * 7", "2026-12-07T00:00:00Z") == "2026-12-13T00:00:00.000Z");
    CHECK(next("0 0 * * 0", "2026-12-07T00:00:00Z") == "2026-12-13T00:00:00.000Z");
    CHECK(next("0 0 * jan-mar MON", "2026-12-07T00:00:00Z") == "2027-01-04T00:00:00.000Z");
    // Both restricted: a day matching either fires (the 13th, or a Friday).
    CHECK(next("0 0 13 * 5", "2026-12-07T00:00:00Z") == "2026-12-11T00:00:00.000Z");
    CHECK(next("0 0 13 * 5", "2026-12-11T00:00:00Z") == "2026-12-13T00:00:00.000Z");
    // One of them starts with `*`: both must match (a 13th on a weekend, not the
    // Saturday before it).
    CHECK(next("0 0 13 * */6", "2026-12-07T00:00:00Z") == "2026-12-13T00:00:00.000Z");
    CHECK(next("0 0 13 * */6", "2026-12-13T00:00:00Z") == "2027-02-13T00:00:00.000Z");
    CHECK(next("0 12 29 2 *", "2026-03-01T00:00:00Z") == "2028-02-29T12:00:00.000Z");
}

TEST_CASE("cron.bad_expressions_say_what_is_wrong") {
    CHECK(refusal("61 * * * *").find("minute 61 is not in 0-59") != std::string::npos);
    CHECK(refusal("* 24 * * *").find("hour 24") != std::string::npos);
    CHECK(refusal("* * 0 * *").find("day of month 0") != std::string::npos);
    CHECK(refusal("* * * 13 *").find("month 13") != std::string::npos);
    CHECK(refusal("* * * * 8").find("day of week 8") != std::string::npos);
    CHECK(refusal("* * *").find("has 3 fields") != std::string::npos);
    CHECK(refusal("*/0 * * * *").find("step '0'") != std::string::npos);
    CHECK(refusal("10-5 * * * *").find("runs backwards") != std::string::npos);
    CHECK(refusal("* * * foo *").find("month 'foo' is not a number or a name") !=
          std::string::npos);
    CHECK(refusal("0 0 30 2 *").find("names no day that exists") != std::string::npos);
    CHECK(refusal("").find("has 0 fields") != std::string::npos);
}
