#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "job.hpp"
#include "queue.hpp"
#include "result.hpp"
#include "schedule.hpp"

namespace taskpool::proto {

/// The request's `id`: absent, or a string or integer echoed in the reply.
using RequestId = std::optional<nlohmann::json>;

inline constexpr int min_priority = -100;
inline constexpr int max_priority = 100;

struct HelloRequest {
    static constexpr std::string_view op = "hello";
    std::optional<std::string> token;
    std::optional<std::string> client;
};

struct PingRequest {
    static constexpr std::string_view op = "ping";
};

/// A webhook to POST when the job ends (PROTOCOL.md section 5, `callback`).
struct CallbackSpec {
    std::string url;
    std::vector<std::string> events;
};

/// The options `submit` and `map` share.
struct SubmitOptions {
    std::optional<PoolKind> pool;  // default: the task's own pool
    int priority = 0;
    std::optional<double> timeout_s;
    int retries = 0;
    std::optional<double> wait;     // seconds; infinity for `true`
    std::optional<double> block_s;  // wait this long for room in a full queue
    bool notify = false;
    bool bind = false;
    std::optional<CallbackSpec> callback;
    // PROTOCOL.md 11: due later (one of the two), and the back-off between attempts.
    std::optional<double> delay_s;
    std::optional<Timestamp> run_at;
    std::optional<double> retry_backoff_s;
    // PROTOCOL.md 11: jobs that must succeed first.
    std::vector<std::string> after;
    static constexpr std::size_t max_after = 1000;
    /// A follow-up to submit when the job succeeds: `task`, `args` (an object)
    /// and submit options but wait, block_s, notify, bind and key; checked, and
    /// kept as its JSON text.
    std::optional<RawJson> then;
    // PROTOCOL.md 12: the named queue it waits in; none: the task's, if any.
    std::optional<std::string> queue;
};

struct SubmitRequest {
    static constexpr std::string_view op = "submit";
    std::string task;
    RawJson args;
    std::optional<std::string> key;
    SubmitOptions options;
};

/// Many jobs of one task at once, accepted all or none (PROTOCOL.md section 5).
struct MapRequest {
    static constexpr std::string_view op = "map";
    static constexpr std::size_t max_items = 1000000;
    std::string task;
    std::vector<RawJson> items;  // the args of each job, in order
    SubmitOptions options;
};

struct GetRequest {
    static constexpr std::string_view op = "get";
    std::string job;
    std::optional<double> wait;
};

struct CancelRequest {
    static constexpr std::string_view op = "cancel";
    std::string job;
};

/// A failed or cancelled job, queued again under its id (PROTOCOL.md 11).
struct RetryRequest {
    static constexpr std::string_view op = "retry";
    std::string job;
};

struct ListRequest {
    static constexpr std::string_view op = "list";
    static constexpr int default_limit = 100;
    static constexpr int max_limit = 100000;
    std::optional<JobState> state;
    int limit = default_limit;
    /// Only jobs whose id starts with this (how a client resolves a short id).
    std::optional<std::string> prefix;
    /// Only jobs whose id holds this text anywhere.
    std::optional<std::string> contains;
    std::optional<std::string> task;
    std::optional<std::string> queue;
    std::optional<std::string> batch;
    /// Only jobs older than this one: the next page after a page that ended with it.
    std::optional<std::string> before;
};

/// The answer to a `before` the store does not know (evicted, or never there).
inline Error no_job_to_list_from(const std::string& before) {
    return {ErrorCode::no_such_job, "no job " + before + " to list from: list from the newest"};
}

struct StatsRequest {
    static constexpr std::string_view op = "stats";
    /// Adds the jobs finished a second and the queue depth of the last 15 minutes.
    bool history = false;
};

struct TasksRequest {
    static constexpr std::string_view op = "tasks";
};

struct SubscribeRequest {
    static constexpr std::string_view op = "subscribe";
    std::optional<std::vector<std::string>> jobs;  // none: every job
};

struct UnsubscribeRequest {
    static constexpr std::string_view op = "unsubscribe";
};

struct ResizeRequest {
    static constexpr std::string_view op = "resize";
    static constexpr int max_size = 4096;
    PoolKind pool = PoolKind::thread;
    int size = 0;
};

// Shared state (PROTOCOL.md section 5): one JSON value per key, each op atomic.
inline constexpr std::size_t max_kv_key_bytes = 1024;

struct KvGetRequest {
    static constexpr std::string_view op = "kv.get";
    std::string key;
};

struct KvSetRequest {
    static constexpr std::string_view op = "kv.set";
    std::string key;
    nlohmann::json value;  // null removes the key
};

struct KvDelRequest {
    static constexpr std::string_view op = "kv.del";
    std::string key;
};

struct KvIncrRequest {
    static constexpr std::string_view op = "kv.incr";
    std::string key;
    std::int64_t by = 1;
};

/// Keys in order, with their values, from the first after `after`.
struct KvListRequest {
    static constexpr std::string_view op = "kv.list";
    static constexpr int default_limit = 100;
    static constexpr int max_limit = 1000;
    std::optional<std::string> prefix;
    std::optional<std::string> after;
    int limit = default_limit;
};

struct KvCasRequest {
    static constexpr std::string_view op = "kv.cas";
    std::string key;
    nlohmann::json expect;  // null matches a missing key
    nlohmann::json value;   // null removes the key
};

// Remote workers (PROTOCOL.md section 10).

/// A task a remote worker serves.
struct RemoteTaskSpec {
    std::string name;
    std::string description;
};

struct WorkerRegisterRequest {
    static constexpr std::string_view op = "worker.register";
    static constexpr int max_capacity = 1024;
    static constexpr std::size_t max_tasks = 1000;
    std::vector<RemoteTaskSpec> tasks;
    int capacity = 1;
    std::optional<std::string> name;
};

/// A worker that is about to stop: no more jobs are assigned to it, and it
/// reports on those it holds, then closes (as Faktory's "quiet").
struct WorkerQuietRequest {
    static constexpr std::string_view op = "worker.quiet";
};

struct JobDoneRequest {
    static constexpr std::string_view op = "job.done";
    std::string job;
    RawJson result;
};

struct JobFailRequest {
    static constexpr std::string_view op = "job.fail";
    std::string job;
    std::string message;
    std::optional<std::string> type;  // the exception's class, say
    std::optional<RawJson> details;
};

struct JobProgressRequest {
    static constexpr std::string_view op = "job.progress";
    std::string job;
    RawJson progress;
};

// Named queues and pauses (PROTOCOL.md 12).

struct QueueSetRequest {
    static constexpr std::string_view op = "queue.set";
    std::string queue;
    // Each absent: as it is; an empty optional inside: no limit.
    std::optional<std::optional<std::int64_t>> max_concurrency;
    std::optional<std::optional<RateLimit>> rate_limit;
};

struct QueueListRequest {
    static constexpr std::string_view op = "queue.list";
};

/// What `pause` and `resume` name: a queue or a pool, exactly one.
struct PauseTarget {
    std::optional<std::string> queue;
    std::optional<PoolKind> pool;
};

struct PauseRequest {
    static constexpr std::string_view op = "pause";
    PauseTarget target;
};

struct ResumeRequest {
    static constexpr std::string_view op = "resume";
    PauseTarget target;
};

// Recurring schedules (PROTOCOL.md 13).

struct ScheduleSetRequest {
    static constexpr std::string_view op = "schedule.set";
    ScheduleSpec schedule;
};

struct ScheduleDelRequest {
    static constexpr std::string_view op = "schedule.del";
    std::string name;
};

struct ScheduleListRequest {
    static constexpr std::string_view op = "schedule.list";
};

/// Reads the fields of the schedule `name` from the object `text` (a config entry,
/// a journal's row): bad_request naming the field.
Result<ScheduleSpec> decode_schedule(std::string_view name, std::string_view text);

enum class ShutdownMode { drain, now };

struct ShutdownRequest {
    static constexpr std::string_view op = "shutdown";
    ShutdownMode mode = ShutdownMode::drain;
};

using RequestBody =
    std::variant<HelloRequest, PingRequest, SubmitRequest, MapRequest, GetRequest, CancelRequest,
                 RetryRequest, ListRequest, StatsRequest, TasksRequest, SubscribeRequest,
                 UnsubscribeRequest, ResizeRequest, ShutdownRequest, KvGetRequest, KvSetRequest,
                 KvDelRequest, KvIncrRequest, KvCasRequest, KvListRequest, WorkerRegisterRequest,
                 WorkerQuietRequest, JobDoneRequest, JobFailRequest, JobProgressRequest,
                 QueueSetRequest, QueueListRequest, PauseRequest, ResumeRequest, ScheduleSetRequest,
                 ScheduleDelRequest, ScheduleListRequest>;

struct Request {
    RequestId id;
    RequestBody body;
};

/// What decoding found: the id (even when the rest is bad, so the error can echo it)
/// and the typed body or the error to answer with.
struct DecodedRequest {
    RequestId id;
    Result<RequestBody> body;
};

/// Parses and decodes one line: invalid JSON or a non-object gets bad_request, id null.
DecodedRequest decode_request_line(std::string_view line);

/// The options as an object, as submit takes them (a schedule's `options`).
RawJson options_json(const SubmitOptions& options);

/// The submit a schedule makes when it fires.
Result<SubmitRequest> scheduled_request(const ScheduleSpec& schedule);

/// The submit a `then` makes once its job, or its map's batch, has succeeded: its
/// args are `then.args` with `field` ("result", "results") set to `value`.
Result<SubmitRequest> follow_up_request(const RawJson& then, std::string_view field,
                                        const RawJson& value);

/// Decodes an HTTP call to `op`: the fields of the JSON object `body` with those of
/// `params` (an object's text: the query's parameters, and fields the path names)
/// on top, as one request line with all of them would decode. The body's `op`
/// and `id` are not read: the route gives the op, and the response is the reply.
DecodedRequest decode_call(std::string_view op, std::string_view body, std::string_view params);

/// Renders a request as one line, LF included (for clients).
std::string encode_request(const Request& request);

}  // namespace taskpool::proto
