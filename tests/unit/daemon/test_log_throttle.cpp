#include "daemon/base/logging.hpp"

#include <doctest/doctest.h>

using taskpool::daemon::LogThrottle;
using namespace std::chrono_literals;

TEST_CASE("log_throttle.the_first_then_one_an_interval_with_the_count_held_back") {
    LogThrottle throttle(10s);
    auto t = LogThrottle::Clock::time_point{} + 1h;
    CHECK(throttle.admit(t) == 0u);
    for (int i = 0; i < 99; ++i) {
        CHECK_FALSE(throttle.admit(t + 100ms * i).has_value());
    }
    CHECK(throttle.admit(t + 10s) == 99u);
    CHECK_FALSE(throttle.admit(t + 19s).has_value());
    CHECK(throttle.admit(t + 60s) == 1u);
    CHECK(LogThrottle::held_back_note(0).empty());
    CHECK(LogThrottle::held_back_note(99) == " (99 more since the last)");
}
