#pragma once

#include <string>
#include <vector>

#include "redis_connection.hpp"

namespace taskpool::daemon::cluster {

/// A Lua script that changes several keys at once, run by its SHA1 (EVALSHA)
/// so that a call sends its arguments only. Where Redis does not have it (it
/// restarted, or SCRIPT FLUSH ran) the NOSCRIPT reply has the same call sent
/// again as EVAL, with the source, which Redis then keeps.
class RedisScript {
public:
    explicit RedisScript(std::string source);

    const std::string& sha1() const { return sha1_; }
    /// Has Redis keep it (SCRIPT LOAD), so that a call made after this one never
    /// finds it missing: a NOSCRIPT call goes again after the commands sent
    /// behind it, out of their order.
    void load(RedisConnection& redis, RedisConnection::Handler on_reply) const;
    /// Runs it with `keys` (KEYS[1], ...) and `args` (ARGV[1], ...). The script
    /// and the connection outlive the call (a connection runs or fails every
    /// handler before it goes).
    void call(RedisConnection& redis, std::vector<std::string> keys, std::vector<std::string> args,
              RedisConnection::Handler on_reply) const;

private:
    std::string source_;
    std::string sha1_;  // lower-case hex, as Redis names it
};

}  // namespace taskpool::daemon::cluster
