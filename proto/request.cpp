#include "request.hpp"

#include <iterator>
#include <limits>

#include "json_dom.hpp"
#include "json_writer.hpp"

namespace taskpool::proto {
namespace {

using nlohmann::json;
// Requests are read in simdjson's tree, in place: args and items become their
// compact text (RawJson), kv values nlohmann trees, the form the kv store keeps.

constexpr double max_seconds = 366.0 * 24 * 3600;
constexpr int max_retries = 1000;

Result<RequestBody> finish(DomReader& r, RequestBody body) {
    if (auto done = r.finish(); !done) {
        return done.error();
    }
    return body;
}

void read_callback(DomReader& r, std::optional<CallbackSpec>& out) {
    auto value = r.find("callback");
    if (!value) {
        return;
    }
    simdjson::dom::object object;
    if (value->get(object)) {
        r.fail("callback", "must be an object with a url");
        return;
    }
    DomReader cr(object, "callback.");
    CallbackSpec spec;
    cr.text("url", spec.url);
    auto scheme_end = spec.url.find("://");
    auto scheme = spec.url.substr(0, scheme_end == std::string::npos ? 0 : scheme_end);
    if (!spec.url.empty() &&
        ((scheme != "http" && scheme != "https") || spec.url.size() == scheme_end + 3)) {
        cr.fail("url", "must be an http:// or https:// URL with a host");
    }
    std::optional<std::vector<std::string>> events;
    cr.text_list("events", events);
    if (auto done = cr.finish(); !done) {
        r.fail("callback", "is invalid: " + done.error().message);
        return;
    }
    spec.events = events.value_or(std::vector<std::string>{"succeeded", "failed", "cancelled"});
    for (const auto& e : spec.events) {
        auto state = state_from_string(e);
        if (!state || !is_final(*state)) {
            r.fail("callback.events", "must name succeeded, failed or cancelled");
            return;
        }
    }
    out = std::move(spec);
}

void read_options(DomReader& r, SubmitOptions& o);

void read_queue_name(DomReader& r, std::optional<std::string>& out) {
    r.text("queue", out);
    if (out && !valid_name(*out)) {
        r.fail("queue", "must be 1 to 128 letters, digits and _ - . :");
    }
}

/// The options of a job that nobody waits for (a follow-up, a schedule's): those
/// of submit but wait, block_s, notify and bind, which `what` cannot be given.
void read_detached_options(DomReader& r, const std::string& what) {
    SubmitOptions o;
    read_options(r, o);
    for (auto [given, name] : {std::pair{o.wait.has_value(), "wait"},
                               {o.block_s.has_value(), "block_s"},
                               {o.notify, "notify"},
                               {o.bind, "bind"}}) {
        if (given) {
            r.fail(name, "cannot be given to " + what + ", which nobody waits for");
        }
    }
}

/// `then`: an object with a task and the options of a submit that returns at once.
void read_then(DomReader& r, std::optional<RawJson>& out) {
    auto value = r.find("then");
    if (!value) {
        return;
    }
    auto object = DomView::object(*value);
    if (!object) {
        r.fail("then", "must be an object with a task");
        return;
    }
    DomReader tr(*object, "then.");
    std::string task;
    tr.text("task", task);
    if (auto args = tr.find("args"); args && !DomView::object(*args)) {
        tr.fail("args", "must be an object (the result is added to it as \"result\")");
    }
    read_detached_options(tr, "a follow-up");
    if (auto done = tr.finish(); !done) {
        r.fail("then", "is invalid: " + done.error().message);
        return;
    }
    r.raw("then", out);
}

void read_options(DomReader& r, SubmitOptions& o) {
    std::optional<std::size_t> pool;
    r.choice("pool", pool, {"thread", "process"});
    if (pool) {
        o.pool = static_cast<PoolKind>(*pool);
    }
    std::optional<std::int64_t> priority;
    r.integer("priority", priority, min_priority, max_priority);
    o.priority = static_cast<int>(priority.value_or(0));
    r.number("timeout_s", o.timeout_s, 0, max_seconds);
    std::optional<std::int64_t> retries;
    r.integer("retries", retries, 0, max_retries);
    o.retries = static_cast<int>(retries.value_or(0));
    r.wait_seconds("wait", o.wait, max_seconds);
    r.number("block_s", o.block_s, 0, max_seconds);
    std::optional<bool> flag;
    r.boolean("notify", flag);
    o.notify = flag.value_or(false);
    flag.reset();
    r.boolean("bind", flag);
    o.bind = flag.value_or(false);
    read_callback(r, o.callback);
    r.number("delay_s", o.delay_s, 0, max_seconds);
    r.time("run_at", o.run_at);
    if (o.delay_s && o.run_at) {
        r.fail("run_at",
               "cannot be given with delay_s: one says when, the other how long from now");
    }
    r.number("retry_backoff_s", o.retry_backoff_s, 0, max_seconds);
    std::optional<std::vector<std::string>> after;
    r.text_list("after", after);
    if (after && after->size() > SubmitOptions::max_after) {
        r.fail("after", "names at most " + std::to_string(SubmitOptions::max_after) + " jobs");
    }
    o.after = std::move(after).value_or(std::vector<std::string>{});
    read_then(r, o.then);
    read_queue_name(r, o.queue);
}

Result<RequestBody> decode_submit(DomReader& r) {
    SubmitRequest req;
    r.text("task", req.task);
    r.text("key", req.key);
    read_options(r, req.options);
    r.raw("args", req.args);
    return finish(r, std::move(req));
}

void read_kv_key(DomReader& r, std::string& key) {
    r.text("key", key);
    if (key.empty()) {
        r.fail("key", "must not be empty");
    } else if (key.size() > max_kv_key_bytes) {
        r.fail("key", "must be at most " + std::to_string(max_kv_key_bytes) + " bytes");
    }
}

/// A JSON value that must be present, null included.
void read_present(DomReader& r, std::string_view name, json& out) {
    if (auto value = r.find(name)) {
        out = to_json(*value);
    } else {
        r.fail(name, "is required (null is allowed)");
    }
}

Result<RequestBody> decode_kv_get(DomReader& r) {
    KvGetRequest req;
    read_kv_key(r, req.key);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_kv_set(DomReader& r) {
    KvSetRequest req;
    read_kv_key(r, req.key);
    read_present(r, "value", req.value);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_kv_del(DomReader& r) {
    KvDelRequest req;
    read_kv_key(r, req.key);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_kv_incr(DomReader& r) {
    KvIncrRequest req;
    read_kv_key(r, req.key);
    std::optional<std::int64_t> by;
    r.integer("by", by, std::numeric_limits<std::int64_t>::min(),
              std::numeric_limits<std::int64_t>::max());
    req.by = by.value_or(1);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_kv_cas(DomReader& r) {
    KvCasRequest req;
    read_kv_key(r, req.key);
    read_present(r, "expect", req.expect);
    read_present(r, "value", req.value);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_kv_list(DomReader& r) {
    KvListRequest req;
    r.text("prefix", req.prefix);
    r.text("after", req.after);
    std::optional<std::int64_t> limit;
    r.integer("limit", limit, 1, KvListRequest::max_limit);
    req.limit = static_cast<int>(limit.value_or(KvListRequest::default_limit));
    return finish(r, std::move(req));
}

Result<RequestBody> decode_map(DomReader& r) {
    MapRequest req;
    r.text("task", req.task);
    read_options(r, req.options);
    auto value = r.find("items");
    simdjson::dom::array items;
    if (!value) {
        r.fail("items", "is required: an array with the args of each job");
    } else if (value->get(items) || items.size() == 0) {
        r.fail("items", "must be a non-empty array with the args of each job");
    } else if (items.size() > MapRequest::max_items) {
        r.fail("items", "must have at most " + std::to_string(MapRequest::max_items) + " items");
    } else {
        req.items.reserve(items.size());
        for (auto item : items) {
            req.items.push_back(raw_json(item));
        }
    }
    return finish(r, std::move(req));
}

Result<RequestBody> decode_hello(DomReader& r) {
    HelloRequest req;
    r.text("token", req.token);
    r.text("client", req.client);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_get(DomReader& r) {
    GetRequest req;
    r.text("job", req.job);
    r.wait_seconds("wait", req.wait, max_seconds);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_cancel(DomReader& r) {
    CancelRequest req;
    r.text("job", req.job);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_retry(DomReader& r) {
    RetryRequest req;
    r.text("job", req.job);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_list(DomReader& r) {
    ListRequest req;
    std::optional<std::size_t> state;
    r.choice("state", state,
             {"scheduled", "waiting", "queued", "running", "succeeded", "failed", "cancelled"});
    if (state) {
        req.state = static_cast<JobState>(*state);
    }
    std::optional<std::int64_t> limit;
    r.integer("limit", limit, 1, ListRequest::max_limit);
    req.limit = static_cast<int>(limit.value_or(ListRequest::default_limit));
    r.text("prefix", req.prefix);
    r.text("contains", req.contains);
    r.text("task", req.task);
    r.text("queue", req.queue);
    r.text("batch", req.batch);
    r.text("before", req.before);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_stats(DomReader& r) {
    StatsRequest req;
    std::optional<bool> history;
    r.boolean("history", history);
    req.history = history.value_or(false);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_subscribe(DomReader& r) {
    SubscribeRequest req;
    r.text_list("jobs", req.jobs);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_resize(DomReader& r) {
    ResizeRequest req;
    std::optional<std::size_t> pool;
    r.choice("pool", pool, {"thread", "process"});
    std::optional<std::int64_t> size;
    r.integer("size", size, 0, ResizeRequest::max_size);
    if (!pool) {
        r.fail("pool", "is required");
    } else if (!size) {
        r.fail("size", "is required");
    }
    req.pool = static_cast<PoolKind>(pool.value_or(0));
    req.size = static_cast<int>(size.value_or(0));
    return finish(r, req);
}

Result<RequestBody> decode_shutdown(DomReader& r) {
    ShutdownRequest req;
    std::optional<std::size_t> mode;
    r.choice("mode", mode, {"drain", "now"});
    req.mode = static_cast<ShutdownMode>(mode.value_or(0));
    return finish(r, req);
}

/// A remote task's name: what a config key or a command line can carry.
bool valid_task_name(std::string_view name) {
    return !name.empty() && name.size() <= 128 &&
           name.find_first_of(" \t\r\n\"\\/") == std::string_view::npos;
}

Result<RequestBody> decode_worker_register(DomReader& r) {
    WorkerRegisterRequest req;
    if (auto tasks = r.find("tasks")) {
        simdjson::dom::array list;
        if (tasks->get(list) || list.size() == 0 ||
            list.size() > WorkerRegisterRequest::max_tasks) {
            r.fail("tasks", "must be an array of 1 to 1000 task names or {name, description}");
        } else {
            std::size_t i = 0;
            for (auto item : list) {
                auto path = "tasks[" + std::to_string(i++) + "]";
                RemoteTaskSpec spec;
                std::string_view text;
                simdjson::dom::object object;
                if (!item.get(text)) {
                    spec.name = text;
                } else if (!item.get(object)) {
                    DomReader tr(object, path + ".");
                    tr.text("name", spec.name);
                    std::optional<std::string> description;
                    tr.text("description", description);
                    spec.description = description.value_or("");
                    if (auto done = tr.finish(); !done) {
                        return done.error();
                    }
                }
                if (!valid_task_name(spec.name)) {
                    return bad_request("field '" + path +
                                       "' must be a task name (1 to 128 bytes, no spaces, "
                                       "quotes or slashes), or an object with one");
                }
                req.tasks.push_back(std::move(spec));
            }
        }
    } else {
        r.fail("tasks", "is required");
    }
    std::optional<std::int64_t> capacity;
    r.integer("capacity", capacity, 1, WorkerRegisterRequest::max_capacity);
    req.capacity = static_cast<int>(capacity.value_or(1));
    r.text("name", req.name);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_job_done(DomReader& r) {
    JobDoneRequest req;
    r.text("job", req.job);
    r.raw("result", req.result);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_job_fail(DomReader& r) {
    JobFailRequest req;
    r.text("job", req.job);
    if (auto error = r.object("error")) {
        error->text("message", req.message);
        error->text("type", req.type);
        error->raw("details", req.details);
        if (auto done = error->finish(); !done) {
            return done.error();
        }
    } else {
        r.fail("error", "is required: {message, type, details}");
    }
    return finish(r, std::move(req));
}

Result<RequestBody> decode_job_progress(DomReader& r) {
    JobProgressRequest req;
    r.text("job", req.job);
    std::optional<RawJson> progress;
    r.raw("progress", progress);
    if (progress) {
        req.progress = std::move(*progress);
    } else {
        r.fail("progress", "is required (null is allowed)");
    }
    return finish(r, std::move(req));
}

Result<RequestBody> decode_queue_set(DomReader& r) {
    QueueSetRequest req;
    std::optional<std::string> name;
    read_queue_name(r, name);
    if (!name) {
        r.fail("queue", "is required");
    }
    req.queue = std::move(name).value_or("");
    if (auto value = r.find("max_concurrency"); value && value->is_null()) {
        req.max_concurrency.emplace();
    } else if (value) {
        std::optional<std::int64_t> n;
        r.integer("max_concurrency", n, 1, max_concurrency);
        req.max_concurrency = n;
    }
    if (auto value = r.find("rate_limit"); value && value->is_null()) {
        req.rate_limit.emplace();
    } else if (value) {
        std::optional<std::string> text;
        r.text("rate_limit", text);
        auto rate = text ? parse_rate_limit(*text) : std::nullopt;
        if (text && !rate) {
            r.fail("rate_limit", "must be N/s, N/m or N/h with N from 1 to " +
                                     std::to_string(max_rate_starts) + " (null: no limit)");
        }
        req.rate_limit = rate;
    }
    return finish(r, std::move(req));
}

/// `pause` and `resume`: a queue or a pool.
template <class Request>
Result<RequestBody> decode_pause(DomReader& r) {
    Request req;
    read_queue_name(r, req.target.queue);
    std::optional<std::size_t> pool;
    r.choice("pool", pool, {"thread", "process", "remote"});
    if (pool) {
        req.target.pool = static_cast<PoolKind>(*pool);
    }
    if (req.target.queue.has_value() == req.target.pool.has_value()) {
        r.fail("queue", "or 'pool' is required, and not both");
    }
    return finish(r, std::move(req));
}

constexpr double max_every_s = 366.0 * 24 * 3600;

/// A schedule's fields but its name.
void read_schedule(DomReader& r, ScheduleSpec& s) {
    r.text("task", s.task);
    r.raw("args", s.args);
    r.text("cron", s.cron);
    r.number("every_s", s.every_s, 0, max_every_s);
    if (s.every_s && *s.every_s < 1) {
        r.fail("every_s", "must be at least 1 (second)");
    }
    if (s.cron.has_value() == s.every_s.has_value()) {
        r.fail("cron", "or 'every_s' is required, and not both");
    }
    if (auto value = r.find("options")) {
        if (auto object = DomView::object(*value)) {
            DomReader options(*object, "options.");
            read_detached_options(options, "a scheduled job");
            if (auto done = options.finish(); !done) {
                r.fail("options", "is invalid: " + done.error().message);
            }
            r.raw("options", s.options);
        } else {
            r.fail("options", "must be an object of submit options");
        }
    }
    std::optional<std::size_t> catch_up;
    r.choice("catch_up", catch_up, {"one", "none"});
    s.catch_up = static_cast<CatchUp>(catch_up.value_or(0));
    std::optional<bool> paused;
    r.boolean("paused", paused);
    s.paused = paused.value_or(false);
}

Result<RequestBody> decode_schedule_set(DomReader& r) {
    ScheduleSetRequest req;
    r.text("name", req.schedule.name);
    if (!req.schedule.name.empty() && !valid_name(req.schedule.name)) {
        r.fail("name", "must be 1 to 128 letters, digits and _ - . :");
    }
    read_schedule(r, req.schedule);
    return finish(r, std::move(req));
}

Result<RequestBody> decode_schedule_del(DomReader& r) {
    ScheduleDelRequest req;
    r.text("name", req.name);
    return finish(r, std::move(req));
}

/// An op that takes no fields.
template <class Request>
Result<RequestBody> decode_bare(DomReader& r) {
    return finish(r, Request{});
}

using Decoder = Result<RequestBody> (*)(DomReader&);

/// Every op and its decoder.
constexpr std::pair<std::string_view, Decoder> decoders[] = {
    {HelloRequest::op, decode_hello},
    {PingRequest::op, decode_bare<PingRequest>},
    {SubmitRequest::op, decode_submit},
    {MapRequest::op, decode_map},
    {GetRequest::op, decode_get},
    {CancelRequest::op, decode_cancel},
    {RetryRequest::op, decode_retry},
    {ListRequest::op, decode_list},
    {StatsRequest::op, decode_stats},
    {TasksRequest::op, decode_bare<TasksRequest>},
    {SubscribeRequest::op, decode_subscribe},
    {UnsubscribeRequest::op, decode_bare<UnsubscribeRequest>},
    {ResizeRequest::op, decode_resize},
    {ShutdownRequest::op, decode_shutdown},
    {KvGetRequest::op, decode_kv_get},
    {KvSetRequest::op, decode_kv_set},
    {KvDelRequest::op, decode_kv_del},
    {KvIncrRequest::op, decode_kv_incr},
    {KvCasRequest::op, decode_kv_cas},
    {KvListRequest::op, decode_kv_list},
    {WorkerRegisterRequest::op, decode_worker_register},
    {WorkerQuietRequest::op, decode_bare<WorkerQuietRequest>},
    {JobDoneRequest::op, decode_job_done},
    {JobFailRequest::op, decode_job_fail},
    {JobProgressRequest::op, decode_job_progress},
    {QueueSetRequest::op, decode_queue_set},
    {QueueListRequest::op, decode_bare<QueueListRequest>},
    {PauseRequest::op, decode_pause<PauseRequest>},
    {ResumeRequest::op, decode_pause<ResumeRequest>},
    {ScheduleSetRequest::op, decode_schedule_set},
    {ScheduleDelRequest::op, decode_schedule_del},
    {ScheduleListRequest::op, decode_bare<ScheduleListRequest>},
};
static_assert(std::size(decoders) == std::variant_size_v<RequestBody>, "an op without a decoder");

Result<RequestBody> decode_body(std::string_view op, DomReader& r) {
    for (const auto& [name, decode] : decoders) {
        if (name == op) {
            return decode(r);
        }
    }
    return Error{ErrorCode::unknown_op, "unknown op '" + std::string(op) + "'"};
}

// Encoding, for clients: each body becomes its fields.
void write_wait(JsonWriter& w, std::string_view name, double wait) {
    w.key(name);
    std::isinf(wait) ? w.value(true) : w.value(wait);
}

void write_texts(JsonWriter& w, std::string_view name, const std::vector<std::string>& texts) {
    w.key(name).begin_array();
    for (const auto& t : texts) {
        w.value(t);
    }
    w.end_array();
}

void write_options(JsonWriter& w, const SubmitOptions& o) {
    if (o.pool) {
        w.field("pool", to_string(*o.pool));
    }
    if (o.priority != 0) {
        w.field("priority", o.priority);
    }
    if (o.timeout_s) {
        w.field("timeout_s", *o.timeout_s);
    }
    if (o.retries != 0) {
        w.field("retries", o.retries);
    }
    if (o.wait) {
        write_wait(w, "wait", *o.wait);
    }
    if (o.block_s) {
        w.field("block_s", *o.block_s);
    }
    if (o.notify) {
        w.field("notify", true);
    }
    if (o.bind) {
        w.field("bind", true);
    }
    if (o.delay_s) {
        w.field("delay_s", *o.delay_s);
    }
    if (o.run_at) {
        w.field("run_at", format_timestamp(*o.run_at));
    }
    if (o.retry_backoff_s) {
        w.field("retry_backoff_s", *o.retry_backoff_s);
    }
    if (!o.after.empty()) {
        write_texts(w, "after", o.after);
    }
    if (o.then) {
        w.field("then", *o.then);
    }
    if (o.queue) {
        w.field("queue", *o.queue);
    }
    if (o.callback) {
        w.key("callback").begin_object();
        w.field("url", o.callback->url);
        w.key("events").begin_array();
        for (const auto& e : o.callback->events) {
            w.value(e);
        }
        w.end_array().end_object();
    }
}

}  // namespace

RawJson options_json(const SubmitOptions& options) {
    JsonWriter w;
    w.begin_object();
    write_options(w, options);
    w.end_object();
    return *RawJson::from_text(std::move(w).take());
}

namespace {

struct BodyEncoder {
    JsonWriter& w;
    void operator()(const HelloRequest& r) {
        if (r.token) {
            w.field("token", *r.token);
        }
        if (r.client) {
            w.field("client", *r.client);
        }
    }
    void operator()(const PingRequest&) {}
    void operator()(const SubmitRequest& r) {
        w.field("task", r.task);
        if (!r.args.is_null()) {
            w.field("args", r.args);
        }
        if (r.key) {
            w.field("key", *r.key);
        }
        write_options(w, r.options);
    }
    void operator()(const MapRequest& r) {
        w.field("task", r.task);
        w.key("items").begin_array();
        for (const auto& item : r.items) {
            w.value(item);
        }
        w.end_array();
        write_options(w, r.options);
    }
    void operator()(const GetRequest& r) {
        w.field("job", r.job);
        if (r.wait) {
            write_wait(w, "wait", *r.wait);
        }
    }
    void operator()(const CancelRequest& r) { w.field("job", r.job); }
    void operator()(const RetryRequest& r) { w.field("job", r.job); }
    void operator()(const ListRequest& r) {
        if (r.state) {
            w.field("state", to_string(*r.state));
        }
        w.field("limit", r.limit);
        for (const auto& [name, value] :
             {std::pair{"prefix", &r.prefix}, std::pair{"contains", &r.contains},
              std::pair{"task", &r.task}, std::pair{"queue", &r.queue},
              std::pair{"batch", &r.batch}, std::pair{"before", &r.before}}) {
            if (*value) {
                w.field(name, **value);
            }
        }
    }
    void operator()(const StatsRequest& r) {
        if (r.history) {
            w.field("history", true);
        }
    }
    void operator()(const TasksRequest&) {}
    void operator()(const SubscribeRequest& r) {
        if (r.jobs) {
            write_texts(w, "jobs", *r.jobs);
        }
    }
    void operator()(const UnsubscribeRequest&) {}
    void operator()(const ResizeRequest& r) {
        w.field("pool", to_string(r.pool));
        w.field("size", r.size);
    }
    void operator()(const ShutdownRequest& r) {
        w.field("mode", r.mode == ShutdownMode::now ? "now" : "drain");
    }
    void operator()(const KvGetRequest& r) { w.field("key", r.key); }
    void operator()(const KvSetRequest& r) {
        w.field("key", r.key);
        w.field("value", r.value);
    }
    void operator()(const KvDelRequest& r) { w.field("key", r.key); }
    void operator()(const KvIncrRequest& r) {
        w.field("key", r.key);
        w.field("by", r.by);
    }
    void operator()(const KvCasRequest& r) {
        w.field("key", r.key);
        w.field("expect", r.expect);
        w.field("value", r.value);
    }
    void operator()(const KvListRequest& r) {
        for (const auto& [name, value] :
             {std::pair{"prefix", &r.prefix}, std::pair{"after", &r.after}}) {
            if (*value) {
                w.field(name, **value);
            }
        }
        w.field("limit", r.limit);
    }
    void operator()(const WorkerRegisterRequest& r) {
        w.key("tasks").begin_array();
        for (const auto& task : r.tasks) {
            if (task.description.empty()) {
                w.value(task.name);
            } else {
                w.begin_object().field("name", task.name).field("description", task.description);
                w.end_object();
            }
        }
        w.end_array();
        w.field("capacity", r.capacity);
        if (r.name) {
            w.field("name", *r.name);
        }
    }
    void operator()(const WorkerQuietRequest&) {}
    void operator()(const JobDoneRequest& r) {
        w.field("job", r.job);
        w.field("result", r.result);
    }
    void operator()(const JobFailRequest& r) {
        w.field("job", r.job);
        w.key("error").begin_object().field("message", r.message);
        if (r.type) {
            w.field("type", *r.type);
        }
        if (r.details) {
            w.field("details", *r.details);
        }
        w.end_object();
    }
    void operator()(const JobProgressRequest& r) {
        w.field("job", r.job);
        w.field("progress", r.progress);
    }
    void operator()(const QueueSetRequest& r) {
        w.field("queue", r.queue);
        if (r.max_concurrency) {
            w.key("max_concurrency");
            *r.max_concurrency ? w.value(**r.max_concurrency) : w.value(nlohmann::json(nullptr));
        }
        if (r.rate_limit) {
            w.key("rate_limit");
            *r.rate_limit ? w.value(to_string(**r.rate_limit)) : w.value(nlohmann::json(nullptr));
        }
    }
    void operator()(const QueueListRequest&) {}
    void operator()(const PauseRequest& r) { write_target(r.target); }
    void operator()(const ResumeRequest& r) { write_target(r.target); }
    void operator()(const ScheduleSetRequest& r) {
        w.field("name", r.schedule.name);
        auto fields = schedule_fields(r.schedule);
        for (const auto& [name, value] : fields.items()) {
            w.field(name, value);
        }
    }
    void operator()(const ScheduleDelRequest& r) { w.field("name", r.name); }
    void operator()(const ScheduleListRequest&) {}
    void write_target(const PauseTarget& t) {
        if (t.queue) {
            w.field("queue", *t.queue);
        }
        if (t.pool) {
            w.field("pool", to_string(*t.pool));
        }
    }
};

}  // namespace

DecodedRequest decode_request_line(std::string_view line) {
    auto root = parse_dom(line);
    if (!root) {
        return {json(nullptr), root.error()};
    }
    simdjson::dom::object doc;
    if (root->get(doc)) {
        return {json(nullptr), bad_request("a request must be a JSON object")};
    }
    DomReader reader(doc);
    RequestId id;
    if (auto value = reader.find("id")) {
        if (!value->is_string() && !value->is_int64() && !value->is_uint64()) {
            return {json(nullptr), bad_request("field 'id' must be a string or an integer")};
        }
        id = to_json(*value);
    }
    auto op = reader.find("op");
    auto name = op ? DomView::text(*op) : std::nullopt;
    if (!name) {
        return {id, bad_request("field 'op' is required and must be a string")};
    }
    return {id, decode_body(*name, reader)};
}

DecodedRequest decode_call(std::string_view op, std::string_view body, std::string_view params) {
    auto not_object = [&] {
        return bad_request("the body must be a JSON object with the " + std::string(op) +
                           " fields");
    };
    if (body.empty()) {
        return {RequestId{}, not_object()};
    }
    auto root = parse_dom(body);
    if (!root) {
        return {RequestId{}, root.error()};
    }
    simdjson::dom::object fields;
    if (root->get(fields)) {
        return {RequestId{}, not_object()};
    }
    DomReader reader(fields);
    reader.find("id");  // the route gives the op, and the response is the reply
    reader.find("op");
    if (!params.empty()) {
        auto extra = parse_dom(params, DomSlot::second);
        simdjson::dom::object object;
        if (!extra || extra->get(object)) {
            return {RequestId{}, bad_request("the query must be name=value pairs")};
        }
        reader.add_fields(object);
    }
    return {RequestId{}, decode_body(op, reader)};
}

std::string encode_request(const Request& request) {
    JsonWriter w;
    w.begin_object();
    w.field("op", std::visit([](const auto& b) { return b.op; }, request.body));
    if (request.id) {
        w.field("id", *request.id);
    }
    std::visit(BodyEncoder{w}, request.body);
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

Result<ScheduleSpec> decode_schedule(std::string_view name, std::string_view text) {
    auto root = parse_dom(text);
    if (!root) {
        return root.error();
    }
    simdjson::dom::object object;
    if (root->get(object)) {
        return bad_request("must be an object: task, args, cron or every_s, options");
    }
    DomReader r(object);
    ScheduleSpec spec;
    spec.name = name;
    read_schedule(r, spec);
    if (auto done = r.finish(); !done) {
        return done.error();
    }
    return spec;
}

Result<SubmitRequest> scheduled_request(const ScheduleSpec& schedule) {
    // The options were checked as they came: read again as the submit they make.
    auto request = schedule.options ? schedule.options->parse() : json::object();
    request["op"] = "submit";
    request["task"] = schedule.task;
    request["args"] = schedule.args.parse();
    auto decoded = decode_request_line(request.dump());
    if (!decoded.body) {
        return decoded.body.error();
    }
    return std::get<SubmitRequest>(std::move(*decoded.body));
}

Result<SubmitRequest> follow_up_request(const RawJson& then, std::string_view field,
                                        const RawJson& value) {
    // `then` was checked as it came: read again as the submit it describes.
    auto decoded =
        decode_request_line(std::string(R"({"op":"submit",)").append(then.text().substr(1)));
    if (!decoded.body) {
        return decoded.body.error();
    }
    auto submit = std::get<SubmitRequest>(std::move(*decoded.body));
    auto args = submit.args.is_null() ? json::object() : submit.args.parse();
    args[std::string(field)] = value.parse();
    submit.args = RawJson(args);
    return submit;
}

}  // namespace taskpool::proto
