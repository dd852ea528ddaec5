#include "redis_queues.hpp"

#include <algorithm>
#include <charconv>

#include "daemon/cluster/lua_scripts.hpp"
#include "job_fields.hpp"
#include "redis_job_store.hpp"

namespace taskpool::daemon::cluster {
namespace {

using proto::Error;
using proto::ErrorCode;
using proto::QueueInfo;
using proto::Result;

/// A limit as the script takes it: '' as it is, 'none', or the value.
template <class T, class Text>
std::string limit_arg(const std::optional<std::optional<T>>& limit, Text text) {
    if (!limit) {
        return "";
    }
    return *limit ? text(**limit) : "none";
}

/// A queue as the script answers it: {name, paused, max, rate, per (ms), active,
/// queued, throttled}.
Result<QueueInfo> read_queue(const RedisReply& r) {
    const auto& e = r.elements;
    if (r.kind != RedisReply::Kind::array || e.size() != 8) {
        return Error{
            ErrorCode::unavailable,
            "Redis answered a queue's state with " +
                (r.kind == RedisReply::Kind::error ? r.text : std::string("something unexpected"))};
    }
    QueueInfo q;
    q.name = e[0].text;
    q.paused = e[1].text == "1";
    std::int64_t max = 0, starts = 0, per_ms = 0;
    if (to_number(e[2].text, max)) {
        q.limits.max_concurrency = max;
    }
    if (to_number(e[3].text, starts) && to_number(e[4].text, per_ms)) {
        q.limits.rate_limit = proto::RateLimit{
            starts,
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::milliseconds(per_ms))};
    }
    q.running = static_cast<std::uint64_t>(std::max<std::int64_t>(e[5].integer, 0));
    q.queued = static_cast<std::uint64_t>(e[6].integer);
    q.throttled = e[7].integer != 0;
    return q;
}

/// The one queue a change answers with.
RedisQueues::Listed one(RedisQueues::Done done) {
    return [done = std::move(done)](Result<std::vector<QueueInfo>> queues) {
        if (!queues) {
            done(queues.error());
        } else if (queues->size() != 1) {
            done(Error{ErrorCode::unavailable, "Redis answered a queue change with nothing"});
        } else {
            done(std::move(queues->front()));
        }
    };
}

}  // namespace

RedisQueues::RedisQueues(RedisJobStore& store)
    : store_(store), script_(std::string(lua::common_lua) + std::string(lua::queue_lua)) {}

void RedisQueues::call(std::vector<std::string> args, Listed listed) {
    args.insert(args.begin() + 1, std::to_string(proto::max_queues));
    store_.script(script_, std::move(args), [listed = std::move(listed)](Result<RedisReply> r) {
        if (!r) {
            listed(r.error());
            return;
        }
        if (r->kind == RedisReply::Kind::string && r->text == "too_many") {
            listed(proto::too_many_queues());
            return;
        }
        std::vector<QueueInfo> queues;
        for (const auto& fields : r->elements) {
            auto q = read_queue(fields);
            if (!q) {
                listed(q.error());
                return;
            }
            queues.push_back(std::move(*q));
        }
        std::sort(queues.begin(), queues.end(),
                  [](const QueueInfo& a, const QueueInfo& b) { return a.name < b.name; });
        listed(std::move(queues));
    });
}

void RedisQueues::set(const proto::QueueSetRequest& set, bool from_config, Done done) {
    auto rate = [](const proto::RateLimit& r) {
        auto per = std::chrono::duration_cast<std::chrono::milliseconds>(r.per);
        return std::to_string(r.starts) + "/" + std::to_string(per.count());
    };
    call({"set", set.queue,
          limit_arg(set.max_concurrency, [](std::int64_t n) { return std::to_string(n); }),
          limit_arg(set.rate_limit, rate), from_config ? "config" : "op"},
         one(std::move(done)));
}

void RedisQueues::pause(std::string_view queue, bool paused, Done done) {
    call({"pause", std::string(queue), paused ? "1" : "0"}, one(std::move(done)));
}

void RedisQueues::pause(proto::PoolKind pool, bool paused,
                        base::Callback<void(proto::Result<void>)> done) {
    call({"pool", std::string(proto::to_string(pool)), paused ? "1" : "0"},
         [done = std::move(done)](Result<std::vector<QueueInfo>> r) {
             r ? done({}) : done(r.error());
         });
}

void RedisQueues::list(Listed listed) {
    call({"list"}, std::move(listed));
}

}  // namespace taskpool::daemon::cluster
