#include "histogram.hpp"

#include <algorithm>

namespace taskpool::daemon::metrics {

void Histogram::observe(double seconds) {
    auto it = std::lower_bound(bounds.begin(), bounds.end(), seconds);
    if (it != bounds.end()) {
        ++buckets_[static_cast<std::size_t>(it - bounds.begin())];
    }
    ++count_;
    sum_ += seconds;
}

std::uint64_t Histogram::at_or_under(std::size_t i) const {
    std::uint64_t total = 0;
    for (std::size_t b = 0; b <= i; ++b) {
        total += buckets_[b];
    }
    return total;
}

}  // namespace taskpool::daemon::metrics
