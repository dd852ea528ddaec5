#include "cron.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <vector>

namespace taskpool::daemon::sched {
namespace {

using namespace std::chrono;

struct Field {
    const char* name;
    int min;
    int max;
    std::array<std::string_view, 12> names;  // where a field takes names: JAN, MON
};

constexpr Field minute_field{"minute", 0, 59, {}};
constexpr Field hour_field{"hour", 0, 23, {}};
constexpr Field day_field{"day of month", 1, 31, {}};
constexpr Field month_field{
    "month",
    1,
    12,
    {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}};
constexpr Field weekday_field{
    "day of week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}};

std::vector<std::string_view> split(std::string_view text, char by) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        auto end = text.find(by, start);
        parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
        if (end == std::string_view::npos) {
            return parts;
        }
        start = end + 1;
    }
}

proto::Error cron_error(const std::string& what) {
    return proto::bad_request("field 'cron': " + what +
                              " (five fields: minute hour day-of-month month day-of-week)");
}

/// A number, or a name the field knows (month or weekday, any case).
proto::Result<int> value(std::string_view text, const Field& field) {
    int n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size()) {
        if (n < field.min || n > field.max) {
            return cron_error(std::string(field.name) + " " + std::string(text) + " is not in " +
                              std::to_string(field.min) + "-" + std::to_string(field.max));
        }
        return n;
    }
    if (text.size() == 3) {
        std::string lower;
        for (char c : text) {
            lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        for (std::size_t i = 0; i < field.names.size() && !field.names[i].empty(); ++i) {
            if (field.names[i] == lower) {
                return static_cast<int>(i) + field.min;
            }
        }
    }
    return cron_error(std::string(field.name) + " '" + std::string(text) + "' is not a number" +
                      (field.names[0].empty() ? "" : " or a name"));
}

/// Sets the bits a field's text names: `*`, `n`, `a-b`, each with an optional `/step`,
/// separated by commas.
template <std::size_t N>
proto::Result<void> parse_field(std::string_view text, const Field& field, std::bitset<N>& bits) {
    for (auto item : split(text, ',')) {
        auto parts = split(item, '/');
        if (parts.size() > 2) {
            return cron_error(std::string(field.name) + " '" + std::string(item) +
                              "' has two steps");
        }
        int step = 1;
        if (parts.size() == 2) {
            auto [end, ec] =
                std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), step);
            if (ec != std::errc() || end != parts[1].data() + parts[1].size() || step < 1) {
                return cron_error(std::string(field.name) + " step '" + std::string(parts[1]) +
                                  "' is not a whole number from 1");
            }
        }
        int first = field.min;
        int last = field.max;
        if (parts[0] != "*") {
            auto bounds = split(parts[0], '-');
            if (bounds.size() > 2) {
                return cron_error(std::string(field.name) + " '" + std::string(item) +
                                  "' is not a range");
            }
            auto a = value(bounds[0], field);
            if (!a) {
                return a.error();
            }
            first = *a;
            last = parts.size() == 2 ? field.max : first;  // `5/15`: from 5 on
            if (bounds.size() == 2) {
                auto b = value(bounds[1], field);
                if (!b) {
                    return b.error();
                }
                last = *b;
            }
            if (first > last) {
                return cron_error(std::string(field.name) + " range '" + std::string(parts[0]) +
                                  "' runs backwards");
            }
        }
        for (int v = first; v <= last; v += step) {
            bits.set(static_cast<std::size_t>(v));
        }
    }
    return {};
}

}  // namespace

proto::Result<Cron> Cron::parse(std::string_view text) {
    std::vector<std::string_view> fields;
    for (auto word : split(text, ' ')) {
        if (!word.empty()) {
            fields.push_back(word);
        }
    }
    if (fields.size() != 5) {
        return cron_error("'" + std::string(text) + "' has " + std::to_string(fields.size()) +
                          " fields");
    }
    Cron cron;
    cron.text_ = text;
    for (auto parsed : {parse_field(fields[0], minute_field, cron.minutes_),
                        parse_field(fields[1], hour_field, cron.hours_),
                        parse_field(fields[2], day_field, cron.days_),
                        parse_field(fields[3], month_field, cron.months_),
                        parse_field(fields[4], weekday_field, cron.weekdays_)}) {
        if (!parsed) {
            return parsed.error();
        }
    }
    if (cron.weekdays_.test(7)) {
        cron.weekdays_.set(0);
    }
    cron.any_day_ = fields[2].front() == '*';
    cron.any_weekday_ = fields[4].front() == '*';
    if (!cron.next(proto::now_timestamp())) {
        return cron_error("'" + std::string(text) + "' names no day that exists");
    }
    return cron;
}

bool Cron::day_matches(unsigned day_of_month, unsigned weekday) const {
    bool day = days_.test(day_of_month);
    bool week = weekdays_.test(weekday);
    if (any_day_ || any_weekday_) {
        return day && week;  // the `*` one matches every day
    }
    return day || week;
}

std::optional<proto::Timestamp> Cron::next(proto::Timestamp after) const {
    auto t = floor<minutes>(sys_time<milliseconds>(after.time_since_epoch())) + minutes(1);
    auto limit = t + years(8);
    while (t < limit) {
        auto day = floor<days>(t);
        year_month_day date(day);
        auto month = static_cast<unsigned>(date.month());
        if (!months_.test(month)) {
            auto next_month =
                year_month_day(date.year() / date.month() / 1) + std::chrono::months(1);
            t = sys_days(next_month);
            continue;
        }
        if (!day_matches(static_cast<unsigned>(date.day()), weekday(day).c_encoding())) {
            t = day + days(1);
            continue;
        }
        auto hour = duration_cast<hours>(t - day).count();
        if (!hours_.test(static_cast<std::size_t>(hour))) {
            t = day + hours(hour + 1);
            continue;
        }
        auto minute = duration_cast<minutes>(t - day - hours(hour)).count();
        if (!minutes_.test(static_cast<std::size_t>(minute))) {
            t += minutes(1);
            continue;
        }
        return proto::Timestamp(duration_cast<milliseconds>(t.time_since_epoch()));
    }
    return std::nullopt;
}

}  // namespace taskpool::daemon::sched
