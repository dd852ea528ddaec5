// The dashboard's 15 minutes of samples: rates from totals, oldest dropped first.
#include <doctest/doctest.h>

#include <asio/io_context.hpp>

#include "daemon/metrics/stats_history.hpp"

using taskpool::daemon::metrics::StatsHistory;

TEST_CASE("stats_history.rates_come_from_totals_and_15_minutes_are_kept") {
    asio::io_context io;
    StatsHistory history(io, [](auto) {});
    history.add(1'000'000, {100, 7});  // where counting starts: no point yet
    CHECK(history.json()["at"].empty());
    history.add(1'005'000, {150, 3});
    history.add(1'010'000, {140, 0});  // a retry took a job back: no negative rate
    auto j = history.json();
    CHECK(j["step_s"] == 5);
    CHECK(j["at"] == nlohmann::json{1'005'000, 1'010'000});
    CHECK(j["finished_per_s"] == nlohmann::json{10.0, 0.0});
    CHECK(j["queued"] == nlohmann::json{3, 0});
    for (int i = 3; i < 300; ++i) {
        history.add(1'000'000 + i * 5000, {140, static_cast<std::uint64_t>(i)});
    }
    j = history.json();
    CHECK(j["at"].size() == StatsHistory::kept);
    CHECK(j["queued"].back() == 299);
    CHECK(j["queued"].front() == 299 - StatsHistory::kept + 1);
}
