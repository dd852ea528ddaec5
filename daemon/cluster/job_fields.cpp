#include "job_fields.hpp"

#include <charconv>
#include <string_view>

#include "proto/json_dom.hpp"
#include "proto/json_writer.hpp"

namespace taskpool::daemon::cluster {
namespace {

using proto::Timestamp;

void add(std::vector<std::string>& out, std::string_view name, std::string value) {
    out.emplace_back(name);
    out.push_back(std::move(value));
}

proto::Error corrupt(std::string_view what) {
    return {proto::ErrorCode::internal,
            "Redis holds " + std::string(what) + " not as taskpoold writes it"};
}

/// A JSON object's fields, each handed to `read` with its value; false where the
/// text is no object or `read` refuses a field.
template <class Read>
bool read_object(std::string_view text, Read&& read) {
    auto dom = proto::parse_dom(text, proto::DomSlot::second);
    simdjson::dom::object object;
    if (!dom || dom->get(object) != simdjson::SUCCESS) {
        return false;
    }
    for (auto [name, value] : object) {
        if (!read(name, value)) {
            return false;
        }
    }
    return true;
}

// A field these do not know is left alone: a later version's.
bool read_spec(std::string_view text, sched::StoredJob& s) {
    proto::Job& j = s.job;
    return read_object(text, [&](std::string_view name, simdjson::dom::element v) {
        constexpr auto ok = simdjson::SUCCESS;
        std::string_view str;
        std::int64_t n = 0;
        double d = 0;
        bool fits = true;
        if (name == "id") {
            fits = v.get(str) == ok;
            j.id = str;
        } else if (name == "args") {
            j.args = proto::raw_json(v);
        } else if (name == "priority") {
            fits = v.get(n) == ok;
            j.priority = static_cast<int>(n);
        } else if (name == "submitted_at") {
            fits = v.get(n) == ok;
            j.submitted_at = Timestamp(std::chrono::milliseconds(n));
        } else if (name == "timeout_s") {
            fits = v.get(d) == ok;
            s.timeout_s = d;
        } else if (name == "retry_backoff_s") {
            fits = v.get(d) == ok;
            s.retry_backoff_s = d;
        } else if (name == "callback") {
            fits = v.is_object();
            if (fits) {
                s.callback = sched::callback_from_text(proto::raw_json(v).text());
            }
        } else if (name == "schedule") {
            fits = v.get(str) == ok;
            j.schedule = std::string(str);
        } else if (name == "after") {
            auto ids = proto::DomView::text_list(v);
            fits = ids.has_value();
            j.after = std::move(ids).value_or(std::vector<std::string>());
        } else if (name == "then") {
            s.then = proto::raw_json(v);
        }
        return fits;
    });
}

bool read_worker(std::string_view text, proto::WorkerInfo& worker) {
    return read_object(text, [&](std::string_view name, simdjson::dom::element v) {
        constexpr auto ok = simdjson::SUCCESS;
        std::string_view str;
        std::int64_t n = 0;
        bool fits = true;
        if (name == "pid") {
            fits = v.get(n) == ok;
            worker.pid = n;
        } else if (name == "thread") {
            fits = v.get(n) == ok;
            worker.thread = static_cast<int>(n);
        } else if (name == "id") {
            fits = v.get(str) == ok;
            worker.id = str;
        } else if (name == "name") {
            fits = v.get(str) == ok;
            worker.name = str;
        }
        return fits;
    });
}

}  // namespace

std::string millis_text(Timestamp t) {
    return std::to_string(t.time_since_epoch().count());
}

std::string id_list(const std::vector<std::string>& ids) {
    std::string list;
    for (const auto& id : ids) {
        list += (list.empty() ? "" : " ") + id;
    }
    return list;
}

void JobFields::submitted(const sched::StoredJob& s, bool cancellable,
                          std::vector<std::string>& out) {
    const proto::Job& j = s.job;
    add(out, "pool", std::string(to_string(j.pool)));
    add(out, "task", j.task);
    if (s.retries_left > 0) {
        add(out, "retries", std::to_string(s.retries_left));
    }
    if (cancellable) {
        add(out, "cancellable", "1");
    }
    if (s.key) {
        add(out, "key", *s.key);
    }
    if (j.batch) {
        add(out, "batch", *j.batch);
    }
    if (j.submitted_by) {
        add(out, "submitted_by", *j.submitted_by);
    }
    if (j.queue) {
        add(out, "queue", *j.queue);
    }
    proto::JsonWriter w({}, 96 + j.args.text().size());
    w.begin_object();
    w.field("id", j.id);
    w.field("args", j.args);
    w.field("priority", j.priority);
    w.field("submitted_at", static_cast<std::int64_t>(j.submitted_at.time_since_epoch().count()));
    if (s.timeout_s) {
        w.field("timeout_s", *s.timeout_s);
    }
    if (s.retry_backoff_s) {
        w.field("retry_backoff_s", *s.retry_backoff_s);
    }
    if (s.callback) {  // as an object, which an operator reads in redis-cli as it is
        w.field("callback", *proto::RawJson::from_text(sched::callback_text(*s.callback)));
    }
    if (j.schedule) {
        w.field("schedule", *j.schedule);
    }
    if (!j.after.empty()) {
        w.key("after").begin_array();
        for (const auto& id : j.after) {
            w.value(id);
        }
        w.end_array();
    }
    if (s.then) {
        w.field("then", *s.then);
    }
    w.end_object();
    add(out, "spec", std::move(w).take());
}

void JobFields::started(const proto::Job& j, std::vector<std::string>& out) {
    add(out, "attempts", std::to_string(j.attempts));
    ran(j, out);
}

void JobFields::ran(const proto::Job& j, std::vector<std::string>& out) {
    add(out, "started_at", millis_text(*j.started_at));
    if (j.worker) {
        proto::JsonWriter w({}, 64);
        w.begin_object();
        w.field("pid", j.worker->pid);
        if (j.worker->thread) {
            w.field("thread", *j.worker->thread);
        }
        if (!j.worker->id.empty()) {
            w.field("id", j.worker->id);
            w.field("name", j.worker->name);
        }
        w.end_object();
        add(out, "worker", std::move(w).take());
    }
}

void JobFields::finished(const proto::Job& j, std::vector<std::string>& out) {
    add(out, "attempts", std::to_string(j.attempts));
    add(out, "finished_at", millis_text(*j.finished_at));
    if (j.result) {
        add(out, "result", std::string(j.result->text()));
    }
    if (j.error) {
        add(out, "error_code", std::string(to_string(j.error->code)));
        add(out, "error_message", j.error->message);
    }
    if (j.progress) {
        add(out, "progress", std::string(j.progress->text()));
    }
    if (j.then_job) {
        add(out, "then_job", *j.then_job);
    }
    if (j.then_error) {
        add(out, "then_error_code", std::string(to_string(j.then_error->code)));
        add(out, "then_error_message", j.then_error->message);
    }
}

proto::Result<ReadJob> read_job(const RedisReply& fields) {
    if (fields.kind != RedisReply::Kind::array || fields.elements.size() % 2 != 0) {
        return corrupt("a job that is not a hash");
    }
    ReadJob read;
    sched::StoredJob& s = read.stored;
    proto::Job& j = s.job;
    proto::WorkerInfo worker;
    bool has_worker = false;
    std::optional<proto::JobErrorCode> error_code;
    std::string error_message;
    proto::Error then_error{proto::ErrorCode::internal, {}};
    bool has_then_error = false;
    bool ok = true;
    auto json = [&](std::string_view text) {
        auto value = proto::RawJson::from_text(text);
        ok = ok && value.has_value();
        return value.value_or(proto::RawJson());
    };
    auto time = [&](std::string_view text) {
        std::int64_t ms = 0;
        ok = ok && to_number(text, ms);
        return Timestamp(std::chrono::milliseconds(ms));
    };
    auto number = [&](std::string_view text, auto& out) { ok = ok && to_number(text, out); };
    for (std::size_t i = 0; i < fields.elements.size(); i += 2) {
        std::string_view name = fields.elements[i].text;
        const std::string& value = fields.elements[i + 1].text;
        if (name == "spec") {
            ok = ok && read_spec(value, s);
        } else if (name == "task") {
            j.task = value;
        } else if (name == "pool") {
            auto pool = proto::pool_from_string(value);
            ok = ok && pool.has_value();
            j.pool = pool.value_or(proto::PoolKind::thread);
        } else if (name == "state") {
            auto state = proto::state_from_string(value);
            ok = ok && state.has_value();
            j.state = state.value_or(proto::JobState::queued);
        } else if (name == "attempts") {
            number(value, j.attempts);
        } else if (name == "retries") {
            number(value, s.retries_left);
        } else if (name == "scheduled_for") {
            j.scheduled_for = time(value);
        } else if (name == "started_at") {
            j.started_at = time(value);
        } else if (name == "finished_at") {
            j.finished_at = time(value);
        } else if (name == "key") {
            s.key = value;
        } else if (name == "batch") {
            j.batch = value;
        } else if (name == "submitted_by") {
            j.submitted_by = value;
        } else if (name == "queue") {
            j.queue = value;
        } else if (name == "then_job") {
            j.then_job = value;
        } else if (name == "then_error_code") {
            then_error.code =
                proto::error_code_from_string(value).value_or(proto::ErrorCode::internal);
            has_then_error = true;
        } else if (name == "then_error_message") {
            then_error.message = value;
        } else if (name == "result") {
            j.result = json(value);
        } else if (name == "progress") {
            j.progress = json(value);
        } else if (name == "error_code") {
            error_code = proto::job_error_code_from_string(value);
            ok = ok && error_code.has_value();
        } else if (name == "error_message") {
            error_message = value;
        } else if (name == "worker") {
            has_worker = true;
            ok = ok && read_worker(value, worker);
        } else if (name == "node") {
            j.node = value;
        } else if (name == "token") {
            read.token = value;
        }  // score, cancellable, held, size, unmet, waited: the scripts'
    }
    if (!ok || j.id.empty()) {
        return corrupt(j.id.empty() ? "a job without an id" : "job " + j.id);
    }
    if (has_worker) {
        j.worker = std::move(worker);
    }
    if (error_code) {
        j.error = proto::JobError{*error_code, std::move(error_message)};
    }
    if (has_then_error) {
        j.then_error = std::move(then_error);
    }
    return read;
}

std::string schedule_spec(const proto::ScheduleInfo& schedule) {
    proto::ScheduleInfo spec{schedule.spec, schedule.from_config, {}, {}, {}};
    return proto::schedule_json(spec).dump();
}

proto::Result<proto::ScheduleInfo> read_schedule(const RedisReply& fields) {
    std::optional<proto::ScheduleInfo> info;
    std::optional<Timestamp> next_at, last_at;
    std::optional<std::string> last_job;
    bool ok = fields.kind == RedisReply::Kind::array;
    for (std::size_t i = 0; ok && i + 1 < fields.elements.size(); i += 2) {
        std::string_view name = fields.elements[i].text;
        const std::string& value = fields.elements[i + 1].text;
        std::int64_t ms = 0;
        if (name == "spec") {
            auto read = proto::decode_schedule_info(nlohmann::json::parse(value, nullptr, false));
            ok = static_cast<bool>(read);
            if (ok) {
                info = std::move(*read);
            }
        } else if (name == "next" || name == "last_at") {
            ok = to_number(value, ms);
            (name == "next" ? next_at : last_at) = Timestamp(std::chrono::milliseconds(ms));
        } else if (name == "last_job") {
            last_job = value;
        }  // fired: the scripts'
    }
    if (!ok || !info) {
        return corrupt("a schedule");
    }
    info->next_at = next_at;
    info->last_at = last_at;
    info->last_job = std::move(last_job);
    return std::move(*info);
}

}  // namespace taskpool::daemon::cluster
