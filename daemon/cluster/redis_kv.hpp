#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "daemon/base/callback.hpp"
#include "proto/result.hpp"
#include "redis_script.hpp"

namespace taskpool::daemon::cluster {

class RedisJobStore;

/// The kv store of cluster mode (kv.*, PROTOCOL.md section 5): one Redis hash that
/// every node reads and changes, each change a script, so that an `incr` from any
/// node is atomic as on one daemon. Values are kept as their JSON text. `cas`
/// compares values as the local store does (1 and 1.0 alike, keys in any order):
/// the node compares, then writes only if the text it compared is still there,
/// and compares again if not.
class RedisKv {
public:
    /// The reply's fields (`value`, and for cas `swapped`), or the error.
    using Done = base::Callback<void(proto::Result<nlohmann::json>)>;

    RedisKv(RedisJobStore& store, std::size_t max_bytes);

    void get(const std::string& key, Done done);
    void set(const std::string& key, const nlohmann::json& value, Done done);
    void del(const std::string& key, Done done);
    void incr(const std::string& key, std::int64_t by, Done done);
    void cas(const std::string& key, nlohmann::json expect, nlohmann::json value, Done done);
    /// kv.list: `values` [{key, value}] and `more`.
    void list(const std::string& prefix, const std::string& after, int limit, Done done);

private:
    RedisJobStore& store_;
    std::string max_bytes_;
    RedisScript script_;
};

}  // namespace taskpool::daemon::cluster
