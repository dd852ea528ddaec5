#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/auth/credentials.hpp"
#include "daemon/tasks/command_spec.hpp"
#include "proto/queue.hpp"
#include "proto/schedule.hpp"

namespace taskpool::daemon {

/// Every setting of taskpoold with its default (DESIGN.md section 5). The shipped
/// config/taskpool.json lists the same keys with the same values; a test holds them
/// equal. Scalar keys are enumerated once, in config_keys.hpp; `tasks` and
/// `plugins` are structured and read by config_loader.cpp.
struct Config {
    std::string listen = "127.0.0.1:7433";

    struct Auth {
        std::optional<std::string> token;     // may do anything
        std::vector<auth::TokenSpec> tokens;  // scoped. From the file only.

        /// Whether a client must show a token.
        bool required() const { return token.has_value() || !tokens.empty(); }
        /// Which of these tokens `given` is, if any.
        std::optional<auth::Grant> verify(std::optional<std::string_view> given) const {
            return given ? auth::verify(token, tokens, *given) : std::nullopt;
        }
    } auth;

    struct Tls {
        std::optional<std::string> cert;       // PEM: the certificate, then its chain
        std::optional<std::string> key;        // PEM, without a passphrase
        std::optional<std::string> client_ca;  // PEM: requires client certificates

        bool enabled() const { return cert.has_value(); }
    } tls;

    struct ThreadPool {
        std::int64_t size = 0;  // 0: one thread per core
        std::int64_t max_size = 256;
    } thread_pool;

    struct ProcessPool {
        std::int64_t size = 0;  // 0: one worker per core
        std::int64_t max_size = 64;
        std::int64_t max_jobs_per_worker = 0;  // 0: never recycle
        std::int64_t memory_limit_mb = 0;      // 0: no limit
        std::optional<std::string> user;       // run workers as this user (when root)
    } process_pool;

    struct Queue {
        std::int64_t max_size = 100000;
    } queue;

    struct Jobs {
        double default_timeout_s = 0;  // 0: none
        double result_ttl_s = 3600;
        std::int64_t max_retained = 100000;
        std::int64_t max_retained_bytes = 1 << 30;
    } jobs;

    struct Retries {           // back-off between a job's attempts (PROTOCOL.md 11)
        double backoff_s = 0;  // before the second attempt, doubling after; 0: at once
        double max_backoff_s = 300;
    } retries;

    struct Kv {
        std::int64_t max_bytes = 256 << 20;
    } kv;

    struct Limits {
        std::int64_t max_message_bytes = 1048576;
        std::int64_t max_connections = 1024;
        double idle_timeout_s = 300;
        double request_timeout_s = 30;
        double auth_timeout_s = 5;
        std::int64_t max_output_buffer_bytes = 8388608;
    } limits;

    struct Callbacks {
        std::int64_t max_attempts = 5;
        double backoff_s = 1;               // before the second attempt; doubles after each
        double timeout_s = 10;              // of one attempt
        std::optional<std::string> secret;  // HMAC-SHA256 signature of each POST
    } callbacks;

    struct Store {
        std::optional<std::string> path;  // the SQLite journal; none: memory only
        std::string sync = "normal";      // normal or full
    } store;

    struct Shutdown {
        double drain_timeout_s = 8;
    } shutdown;

    struct Cluster {                       // cluster mode (PROTOCOL.md section 15)
        std::optional<std::string> redis;  // redis://...; none: this daemon alone
        std::string name = "taskpool";     // the nodes of one Redis and name are one service
        double lease_s = 10;               // a node silent this long has its jobs run elsewhere
    } cluster;

    struct Workers {                 // remote workers (PROTOCOL.md section 10)
        double heartbeat_s = 5;      // a worker silent for three of these is lost
        double cancel_grace_s = 10;  // for a worker to report on a job it was told to stop
    } workers;

    struct Log {
        std::string level = "info";
        std::string format = "text";
    } log;

    /// Registers the `crash` task, for tests of crash isolation.
    bool test_tasks = false;

    /// Command tasks by name (DESIGN.md section 4). From the file only.
    std::map<std::string, tasks::CommandSpec> tasks;
    /// Tasks of remote workers known in advance ({"remote": true}): their jobs
    /// queue until a worker serves them. By name, with a description.
    std::map<std::string, std::string> remote_tasks;
    /// The named queue of each task's jobs that name none (`tasks.NAME.queue`).
    std::map<std::string, std::string> task_queues;
    /// Named queues' limits (PROTOCOL.md 12). From the file only.
    std::map<std::string, proto::QueueLimits> queues;
    /// Recurring schedules (PROTOCOL.md 13), by name. From the file only.
    std::vector<proto::ScheduleSpec> schedules;
    /// Paths of plugin libraries, loaded in this order. From the file only.
    std::vector<std::string> plugins;

    /// Flag only (--insecure): allow a non-loopback listen address without a token.
    bool insecure = false;

    /// thread_pool.size with 0 resolved to the number of cores.
    std::size_t thread_count() const;
    /// process_pool.size with 0 resolved to the number of cores.
    std::size_t process_count() const;
};

}  // namespace taskpool::daemon
