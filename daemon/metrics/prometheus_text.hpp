#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "histogram.hpp"

namespace taskpool::daemon::metrics {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

/// Writes the Prometheus text exposition format (version 0.0.4): a family's HELP
/// and TYPE lines, then its samples. Label values are escaped; names are ours.
class PrometheusText {
public:
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, Labels labels, double value);
    /// The _bucket (with le), _sum and _count samples of one histogram.
    void histogram(std::string_view name, Labels labels, const Histogram& h);
    std::string take() { return std::move(out_); }

private:
    void write_labels(Labels labels, std::string_view le = {});

    std::string out_;
};

}  // namespace taskpool::daemon::metrics
