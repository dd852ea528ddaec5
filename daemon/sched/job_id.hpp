#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace taskpool::daemon::sched {

/// Makes job and batch ids: a prefix, then 26 Crockford base32 characters holding
/// 48 bits of milliseconds since the epoch and 80 random bits (the ULID layout).
/// Ids sort by creation time as strings; within one millisecond the random part
/// counts up, so one generator's ids are strictly increasing. The random part makes
/// them unique across restarts. Not thread-safe: one owner.
class IdGenerator {
public:
    IdGenerator();
    std::string next(std::string_view prefix);
    /// Makes every later id greater than `id` (one of ours, with any prefix), even if
    /// the clock has gone back since it was made. Ignores anything else.
    void resume_after(std::string_view id);

private:
    std::mt19937_64 rng_;
    std::uint64_t last_ms_ = 0;
    std::uint64_t rand_hi_ = 0;           // top 16 of the 80 random bits
    std::uint64_t rand_lo_ = 0;           // low 64
    std::array<char, 10> time_digits_{};  // the first ten digits: last_ms_'s
    bool time_digits_due_ = true;         // last_ms_ changed since they were written
};

}  // namespace taskpool::daemon::sched
