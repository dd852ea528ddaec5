#include "job_id.hpp"

#include <chrono>
#include <string>

namespace taskpool::daemon::sched {
namespace {

constexpr char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::size_t digits = 26;

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
    } else if (++rand_lo_ == 0) {  // same (or earlier) millisecond: count up
        rand_hi_ = (rand_hi_ + 1) & 0xFFFF;
    }
    // 128 bits as two halves: 48 of time, 80 of randomness. 26 base32 digits hold
    // 130 bits, so the first digit carries two leading zero bits.
    std::uint64_t high = (last_ms_ << 16) | rand_hi_;
    std::uint64_t lo = rand_lo_;
    std::string id(prefix.size() + digits, '0');
    prefix.copy(id.data(), prefix.size());
    for (std::size_t i = id.size(); i > prefix.size(); --i) {
        id[i - 1] = crockford[lo & 31];
        lo = (lo >> 5) | (high << 59);
        high >>= 5;
    }
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
    }
}

}  // namespace taskpool::daemon::sched
