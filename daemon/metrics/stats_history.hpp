#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

namespace taskpool::daemon::metrics {

/// The last 15 minutes of the jobs finished a second and the jobs queued, a sample
/// every 5 s: what the dashboard's charts draw when it opens (`stats` with
/// `history`). Samples are taken whether anyone looks or not, so that a page
/// opened during an incident shows how it began. Thread-safety: io thread.
class StatsHistory {
public:
    static constexpr std::chrono::seconds step{5};
    static constexpr std::size_t kept = 180;  // 15 minutes

    /// Totals now: every job that ever finished, the jobs queued.
    struct Totals {
        std::uint64_t finished = 0;
        std::uint64_t queued = 0;
    };
    /// Asks for the totals; calls back with them, or not at all (Redis away).
    using Sample = std::function<void(std::function<void(Totals)>)>;

    StatsHistory(asio::io_context& io, Sample sample);

    void start();

    /// {"step_s": 5, "at": [unix ms...], "finished_per_s": [...], "queued": [...]},
    /// oldest first.
    nlohmann::json json() const;

    /// A sample taken at `at` (unix ms); the first only sets where counting starts.
    void add(std::int64_t at, Totals totals);

private:
    void arm();

    struct Point {
        std::int64_t at;
        double finished_per_s;
        std::uint64_t queued;
    };
    asio::steady_timer timer_;
    Sample sample_;
    std::deque<Point> points_;
    std::int64_t last_at_ = 0;
    std::uint64_t last_finished_ = 0;
};

}  // namespace taskpool::daemon::metrics
