#pragma once

#include <array>
#include <cstdint>

namespace taskpool::daemon::metrics {

/// Counts of observed durations in fixed buckets, as Prometheus histograms have
/// them: from a millisecond (the resolution of job timestamps) to half an hour.
class Histogram {
public:
    static constexpr std::array<double, 17> bounds = {
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};

    void observe(double seconds);

    /// Observations at or under bounds[i] (cumulative, as exposed).
    std::uint64_t at_or_under(std::size_t i) const;
    std::uint64_t count() const { return count_; }
    double sum() const { return sum_; }

private:
    std::array<std::uint64_t, bounds.size()> buckets_{};  // each bucket alone
    std::uint64_t count_ = 0;
    double sum_ = 0;
};

}  // namespace taskpool::daemon::metrics
