#include "job_id.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <span>
#include <string>

namespace taskpool::daemon::sched {
namespace {

constexpr char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t digits = 26;

/// Every pair of digits, by the ten bits they hold: half as many steps.
constexpr auto digit_pairs = [] {
    std::array<std::array<char, 2>, 1024> pairs{};
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        pairs[i] = {crockford[i >> 5], crockford[i & 31]};
    }
    return pairs;
}();

/// Writes the low 5 * out.size() bits of `high:low` (an even number of digits),
/// last digits first.
void put_digits(std::span<char> out, std::uint64_t high, std::uint64_t low) {
    for (std::size_t i = out.size(); i > 0; i -= 2) {
        const auto& pair = digit_pairs[low & 1023];
        out[i - 2] = pair[0];
        out[i - 1] = pair[1];
        low = (low >> 10) | (high << 54);
        high >>= 10;
    }
}

}  // namespace

IdGenerator::IdGenerator() : rng_(std::random_device{}()) {}

std::string IdGenerator::next(std::string_view prefix) {
    auto ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    if (ms > last_ms_) {
        last_ms_ = ms;
        rand_hi_ = rng_() & 0xFFFF;
        rand_lo_ = rng_();
        time_digits_due_ = true;
    } else if (++rand_lo_ == 0) {  // same (or earlier) millisecond: count up
        rand_hi_ = (rand_hi_ + 1) & 0xFFFF;
    }
    if (time_digits_due_) {  // 50 bits: two zero bits, 48 of time
        put_digits(time_digits_, 0, last_ms_);
        time_digits_due_ = false;
    }
    // 128 bits: 48 of time, then 80 of randomness. 26 base32 digits hold 130 bits,
    // so the first digit carries two leading zero bits; the time's digits are
    // written once a millisecond.
    std::string id(prefix.size() + digits, '0');
    prefix.copy(id.data(), prefix.size());
    std::copy(time_digits_.begin(), time_digits_.end(), id.begin() + prefix.size());
    put_digits(std::span(id).subspan(prefix.size() + time_digits_.size()), rand_hi_, rand_lo_);
    return id;
}

void IdGenerator::resume_after(std::string_view id) {
    if (id.size() < digits) {
        return;
    }
    // The 128 bits as two halves; the two leading zero bits fall off the top.
    std::uint64_t high = 0;
    std::uint64_t lo = 0;
    for (char c : id.substr(id.size() - digits)) {
        const char* at = std::char_traits<char>::find(crockford, 32, c);
        if (at == nullptr) {
            return;
        }
        high = (high << 5) | (lo >> 59);
        lo = (lo << 5) | static_cast<std::uint64_t>(at - crockford);
    }
    std::uint64_t ms = high >> 16;
    std::uint64_t hi = high & 0xFFFF;
    if (ms > last_ms_ || (ms == last_ms_ && (hi > rand_hi_ || (hi == rand_hi_ && lo > rand_lo_)))) {
        last_ms_ = ms;
        rand_hi_ = hi;
        rand_lo_ = lo;
        time_digits_due_ = true;
    }
}

}  // namespace taskpool::daemon::sched
