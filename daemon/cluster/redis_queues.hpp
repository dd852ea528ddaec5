#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/base/callback.hpp"
#include "proto/queue.hpp"
#include "proto/request.hpp"
#include "proto/result.hpp"
#include "redis_script.hpp"

namespace taskpool::daemon::cluster {

class RedisJobStore;

/// Named queues' limits and pauses, and pools' pauses, in cluster mode
/// (PROTOCOL.md 12): kept in Redis and held by the take script (lua/take.lua) for
/// every node at once, so that a queue's max_concurrency and rate limit count
/// the runs of the whole cluster. Each change wakes every node.
class RedisQueues {
public:
    using Done = base::Callback<void(proto::Result<proto::QueueInfo>)>;
    using Listed = base::Callback<void(proto::Result<std::vector<proto::QueueInfo>>)>;

    explicit RedisQueues(RedisJobStore& store);

    /// Sets what `set` names of a queue's limits. The config's (`from_config`)
    /// apply to a queue no op has set.
    void set(const proto::QueueSetRequest& set, bool from_config, Done done);
    void pause(std::string_view queue, bool paused, Done done);
    void pause(proto::PoolKind pool, bool paused, base::Callback<void(proto::Result<void>)> done);
    void list(Listed listed);

private:
    void call(std::vector<std::string> args, Listed listed);

    RedisJobStore& store_;
    RedisScript script_;
};

}  // namespace taskpool::daemon::cluster
