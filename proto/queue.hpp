#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "result.hpp"

namespace taskpool::proto {

/// A rate limit: at most `starts` job starts per `per` ("10/s", "100/m", "5/h").
struct RateLimit {
    std::int64_t starts = 0;
    std::chrono::seconds per{1};

    friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

inline constexpr std::int64_t max_rate_starts = 1000000;
inline constexpr std::int64_t max_concurrency = 1000000;
/// Named queues a daemon keeps at most: each is a lane every take of its pool
/// looks at, so names are for kinds of work, not for each tenant or job.
inline constexpr std::size_t max_queues = 1000;

/// bad_request for a queue that would be one more than max_queues.
Error too_many_queues();

/// Reads "N/s", "N/m" or "N/h" (N from 1 to max_rate_starts); none if malformed.
std::optional<RateLimit> parse_rate_limit(std::string_view text);
std::string to_string(const RateLimit& rate);

/// What a named queue limits (PROTOCOL.md 12); none of either: no limit.
struct QueueLimits {
    std::optional<std::int64_t> max_concurrency;  // jobs running at once
    std::optional<RateLimit> rate_limit;          // job starts per period

    friend bool operator==(const QueueLimits&, const QueueLimits&) = default;
};

/// A queue as `queue.set`, `queue.list` and `pause` answer it.
struct QueueInfo {
    std::string name;
    QueueLimits limits;
    bool paused = false;
    std::uint64_t queued = 0;
    std::uint64_t running = 0;
    /// Jobs queued that its limits hold back now (a rate or its concurrency).
    bool throttled = false;
};

/// {name, max_concurrency, rate_limit, paused, queued, running, throttled}, with
/// null for a limit it has not.
nlohmann::json queue_json(const QueueInfo& queue);
/// Reads that object (for clients).
Result<QueueInfo> decode_queue(const nlohmann::json& j);

/// A name a queue or a schedule can have, which a URL path and a command line
/// carry as it is: 1 to 128 letters, digits and `_ - . :`.
bool valid_name(std::string_view name);

}  // namespace taskpool::proto
