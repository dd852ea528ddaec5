#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace taskpool::daemon {

/// Sends the default spdlog logger to stdout, as text for people or as one JSON
/// object a line for containers ({"time", "level", "msg"}). Call once at start-up.
/// `level` and `format` are already validated by the config loader.
void setup_logging(const std::string& level, const std::string& format);

/// For a warning that can come many times a second (out of descriptors, refused
/// connections): the first is logged, then at most one an interval, saying how many
/// were held back. Not thread-safe.
class LogThrottle {
public:
    using Clock = std::chrono::steady_clock;

    explicit LogThrottle(Clock::duration interval) : interval_(interval) {}

    /// Whether to log this one; if so, how many were held back since the last.
    std::optional<std::uint64_t> admit(Clock::time_point now = Clock::now()) {
        if (logged_ && now - *logged_ < interval_) {
            ++held_back_;
            return std::nullopt;
        }
        logged_ = now;
        return std::exchange(held_back_, 0);
    }

    /// " (N more since the last)", or nothing when none was held back.
    static std::string held_back_note(std::uint64_t n) {
        return n == 0 ? std::string() : " (" + std::to_string(n) + " more since the last)";
    }

private:
    Clock::duration interval_;
    std::optional<Clock::time_point> logged_;
    std::uint64_t held_back_ = 0;
};

}  // namespace taskpool::daemon
