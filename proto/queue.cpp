#include "queue.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace taskpool::proto {

Error too_many_queues() {
    return bad_request("field 'queue': at most " + std::to_string(max_queues) +
                       " named queues are kept; name queues for kinds of work");
}

std::optional<RateLimit> parse_rate_limit(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos || slash + 2 != text.size()) {
        return std::nullopt;
    }
    RateLimit rate;
    auto [end, ec] = std::from_chars(text.data(), text.data() + slash, rate.starts);
    if (ec != std::errc() || end != text.data() + slash || rate.starts < 1 ||
        rate.starts > max_rate_starts) {
        return std::nullopt;
    }
    switch (text.back()) {
        case 's':
            rate.per = std::chrono::seconds(1);
            break;
        case 'm':
            rate.per = std::chrono::minutes(1);
            break;
        case 'h':
            rate.per = std::chrono::hours(1);
            break;
        default:
            return std::nullopt;
    }
    return rate;
}

std::string to_string(const RateLimit& rate) {
    char unit = rate.per == std::chrono::hours(1)     ? 'h'
                : rate.per == std::chrono::minutes(1) ? 'm'
                                                      : 's';
    return std::to_string(rate.starts) + "/" + unit;
}

nlohmann::json queue_json(const QueueInfo& queue) {
    nlohmann::json j = {{"name", queue.name},          {"max_concurrency", nullptr},
                        {"rate_limit", nullptr},       {"paused", queue.paused},
                        {"queued", queue.queued},      {"running", queue.running},
                        {"throttled", queue.throttled}};
    if (queue.limits.max_concurrency) {
        j["max_concurrency"] = *queue.limits.max_concurrency;
    }
    if (queue.limits.rate_limit) {
        j["rate_limit"] = to_string(*queue.limits.rate_limit);
    }
    return j;
}

Result<QueueInfo> decode_queue(const nlohmann::json& j) {
    try {
        QueueInfo q;
        q.name = j.at("name").get<std::string>();
        if (const auto& n = j.at("max_concurrency"); !n.is_null()) {
            q.limits.max_concurrency = n.get<std::int64_t>();
        }
        if (const auto& rate = j.at("rate_limit"); !rate.is_null()) {
            q.limits.rate_limit = parse_rate_limit(rate.get<std::string>());
        }
        q.paused = j.at("paused").get<bool>();
        q.queued = j.at("queued").get<std::uint64_t>();
        q.running = j.at("running").get<std::uint64_t>();
        q.throttled = j.value("throttled", false);
        return q;
    } catch (const std::exception& e) {
        return bad_request(std::string("malformed queue: ") + e.what());
    }
}

bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' ||
               c == '.' || c == ':';
    });
}

}  // namespace taskpool::proto
