#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "proto/job.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::sched {

/// A five-field cron expression in UTC (PROTOCOL.md 13): minute, hour, day of
/// month, month, day of week, each `*`, a number, a range `a-b`, a step `*/n` or
/// `a-b/n`, or a list of those; 0 and 7 are Sunday. Where both day fields are
/// restricted, a day matching either fires, as in Vixie cron.
class Cron {
public:
    /// The expression, or bad_request naming `cron` and saying what is wrong.
    static proto::Result<Cron> parse(std::string_view text);

    /// The first whole minute after `after` that matches; none if no minute in the
    /// next eight years does (`0 0 30 2 *`).
    std::optional<proto::Timestamp> next(proto::Timestamp after) const;

    const std::string& text() const { return text_; }

private:
    bool day_matches(unsigned day_of_month, unsigned weekday) const;

    std::string text_;
    std::bitset<60> minutes_;
    std::bitset<24> hours_;
    std::bitset<32> days_;      // 1 to 31
    std::bitset<13> months_;    // 1 to 12
    std::bitset<8> weekdays_;   // 0 (Sunday) to 6, and 7 as Sunday again
    bool any_day_ = false;      // the day-of-month field began with `*`
    bool any_weekday_ = false;  // the day-of-week field began with `*`
};

}  // namespace taskpool::daemon::sched
