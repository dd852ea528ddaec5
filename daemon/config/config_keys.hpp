#pragma once

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string_view>

#include "config.hpp"

namespace taskpool::daemon {

/// Bounds of a numeric key.
struct Range {
    double min;
    double max;
};

/// Keys whose values are never printed or logged: a dump shows "***" for them
/// (cluster.redis holds the Redis password).
inline constexpr std::array<std::string_view, 3> secret_config_keys{
    "auth.token", "callbacks.secret", "cluster.redis"};

inline bool is_secret_config_key(std::string_view path) {
    return std::ranges::find(secret_config_keys, path) != secret_config_keys.end();
}

/// Calls `v` once per config key, in the order of the shipped file:
///   v(path, field, range)       for numbers,
///   v(path, field, choices)     for strings that take one of a few values,
///   v(path, field)              for other strings, optional strings and booleans.
/// The only list of keys: loading, environment overrides, flags and the defaults
/// dump all walk it.
template <class Visitor, class C>
void visit_config_keys(C& c, Visitor&& v) {
    using Choices = std::initializer_list<std::string_view>;
    constexpr double day = 24 * 3600;
    v("listen", c.listen);
    v("auth.token", c.auth.token);
    v("tls.cert", c.tls.cert);
    v("tls.key", c.tls.key);
    v("tls.client_ca", c.tls.client_ca);
    v("thread_pool.size", c.thread_pool.size, Range{0, 4096});
    v("thread_pool.max_size", c.thread_pool.max_size, Range{1, 4096});
    v("process_pool.size", c.process_pool.size, Range{0, 4096});
    v("process_pool.max_size", c.process_pool.max_size, Range{1, 4096});
    v("process_pool.max_jobs_per_worker", c.process_pool.max_jobs_per_worker, Range{0, 1e12});
    v("process_pool.memory_limit_mb", c.process_pool.memory_limit_mb, Range{0, 1 << 24});
    v("process_pool.user", c.process_pool.user);
    v("queue.max_size", c.queue.max_size, Range{1, 100000000});
    v("jobs.default_timeout_s", c.jobs.default_timeout_s, Range{0, 366 * day});
    v("jobs.result_ttl_s", c.jobs.result_ttl_s, Range{0, 366 * day});
    v("jobs.max_retained", c.jobs.max_retained, Range{0, 100000000});
    v("jobs.max_retained_bytes", c.jobs.max_retained_bytes, Range{1 << 20, 1LL << 50});
    v("retries.backoff_s", c.retries.backoff_s, Range{0, day});
    v("retries.max_backoff_s", c.retries.max_backoff_s, Range{0, 366 * day});
    v("kv.max_bytes", c.kv.max_bytes, Range{1024, 1LL << 50});
    v("limits.max_message_bytes", c.limits.max_message_bytes, Range{1024, 1 << 30});
    v("limits.max_connections", c.limits.max_connections, Range{1, 1000000});
    v("limits.idle_timeout_s", c.limits.idle_timeout_s, Range{0.01, 366 * day});
    v("limits.request_timeout_s", c.limits.request_timeout_s, Range{0.01, day});
    v("limits.auth_timeout_s", c.limits.auth_timeout_s, Range{0.01, 3600});
    v("limits.max_output_buffer_bytes", c.limits.max_output_buffer_bytes, Range{4096, 1LL << 34});
    v("callbacks.max_attempts", c.callbacks.max_attempts, Range{1, 100});
    v("callbacks.backoff_s", c.callbacks.backoff_s, Range{0, day});
    v("callbacks.timeout_s", c.callbacks.timeout_s, Range{0.1, 3600});
    v("callbacks.secret", c.callbacks.secret);
    v("store.path", c.store.path);
    v("store.sync", c.store.sync, Choices{"normal", "full"});
    v("cluster.redis", c.cluster.redis);
    v("cluster.name", c.cluster.name);
    v("cluster.lease_s", c.cluster.lease_s, Range{2, 3600});
    v("shutdown.drain_timeout_s", c.shutdown.drain_timeout_s, Range{0, day});
    v("workers.heartbeat_s", c.workers.heartbeat_s, Range{0.1, 3600});
    v("workers.cancel_grace_s", c.workers.cancel_grace_s, Range{0, 3600});
    v("log.level", c.log.level, Choices{"trace", "debug", "info", "warn", "error", "off"});
    v("log.format", c.log.format, Choices{"text", "json"});
    v("test_tasks", c.test_tasks);
}

}  // namespace taskpool::daemon
