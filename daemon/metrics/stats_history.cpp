#include "stats_history.hpp"

#include <cmath>

namespace taskpool::daemon::metrics {

StatsHistory::StatsHistory(asio::io_context& io, Sample sample)
    : timer_(io), sample_(std::move(sample)) {}

void StatsHistory::start() {
    arm();
}

void StatsHistory::arm() {
    timer_.expires_after(step);
    timer_.async_wait([this](std::error_code ec) {
        if (ec) {
            return;
        }
        sample_([this](Totals totals) {
            auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch());
            add(now.count(), totals);
        });
        arm();
    });
}

void StatsHistory::add(std::int64_t at, Totals totals) {
    if (last_at_ != 0 && at > last_at_) {
        // A retried job leaves the finished count: never a negative rate.
        auto finished =
            totals.finished > last_finished_ ? totals.finished - last_finished_ : std::uint64_t{0};
        points_.push_back(
            {at, static_cast<double>(finished) * 1000.0 / static_cast<double>(at - last_at_),
             totals.queued});
        if (points_.size() > kept) {
            points_.pop_front();
        }
    }
    last_at_ = at;
    last_finished_ = totals.finished;
}

nlohmann::json StatsHistory::json() const {
    auto at = nlohmann::json::array();
    auto finished = nlohmann::json::array();
    auto queued = nlohmann::json::array();
    for (const auto& p : points_) {
        at.push_back(p.at);
        finished.push_back(std::round(p.finished_per_s * 10) / 10);
        queued.push_back(p.queued);
    }
    return {{"step_s", step.count()},
            {"at", std::move(at)},
            {"finished_per_s", std::move(finished)},
            {"queued", std::move(queued)}};
}

}  // namespace taskpool::daemon::metrics
