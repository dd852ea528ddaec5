#include "job_fields.hpp"

#include <charconv>
#include <ranges>
#include <string_view>

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
    add(out, "id", j.id);
    add(out, "task", j.task);
    add(out, "args", std::string(j.args.text()));
    add(out, "pool", std::string(to_string(j.pool)));
    add(out, "priority", std::to_string(j.priority));
    add(out, "retries", std::to_string(s.retries_left));
    add(out, "cancellable", cancellable ? "1" : "0");
    add(out, "submitted_at", millis_text(j.submitted_at));
    if (s.timeout_s) {
        add(out, "timeout_s", std::to_string(*s.timeout_s));
    }
    if (s.retry_backoff_s) {
        add(out, "retry_backoff_s", std::to_string(*s.retry_backoff_s));
    }
    if (s.key) {
        add(out, "key", *s.key);
    }
    if (s.callback) {
        add(out, "callback", sched::callback_text(*s.callback));
    }
    if (j.batch) {
        add(out, "batch", *j.batch);
    }
    if (j.submitted_by) {
        add(out, "submitted_by", *j.submitted_by);
    }
    if (j.schedule) {
        add(out, "schedule", *j.schedule);
    }
    if (j.queue) {  // the scripts read it too: the job's lane, and its queue's limits
        add(out, "queue", *j.queue);
    }
    if (!j.after.empty()) {
        add(out, "after", id_list(j.after));
    }
    if (s.then) {
        add(out, "then", std::string(s.then->text()));
    }
}

void JobFields::started(const proto::Job& j, std::vector<std::string>& out) {
    add(out, "attempts", std::to_string(j.attempts));
    add(out, "started_at", millis_text(*j.started_at));
    if (j.worker) {
        add(out, "worker_pid", std::to_string(j.worker->pid));
        if (j.worker->thread) {
            add(out, "worker_thread", std::to_string(*j.worker->thread));
        }
        if (!j.worker->id.empty()) {
            add(out, "worker_id", j.worker->id);
            add(out, "worker_name", j.worker->name);
        }
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
        if (name == "id") {
            j.id = value;
        } else if (name == "task") {
            j.task = value;
        } else if (name == "args") {
            j.args = json(value);
        } else if (name == "pool") {
            auto pool = proto::pool_from_string(value);
            ok = ok && pool.has_value();
            j.pool = pool.value_or(proto::PoolKind::thread);
        } else if (name == "priority") {
            number(value, j.priority);
        } else if (name == "state") {
            auto state = proto::state_from_string(value);
            ok = ok && state.has_value();
            j.state = state.value_or(proto::JobState::queued);
        } else if (name == "attempts") {
            number(value, j.attempts);
        } else if (name == "retries") {
            number(value, s.retries_left);
        } else if (name == "seq") {
            number(value, s.seq);
        } else if (name == "submitted_at") {
            j.submitted_at = time(value);
        } else if (name == "scheduled_for") {
            j.scheduled_for = time(value);
        } else if (name == "started_at") {
            j.started_at = time(value);
        } else if (name == "finished_at") {
            j.finished_at = time(value);
        } else if (name == "timeout_s") {
            number(value, s.timeout_s.emplace());
        } else if (name == "retry_backoff_s") {
            number(value, s.retry_backoff_s.emplace());
        } else if (name == "key") {
            s.key = value;
        } else if (name == "callback") {
            s.callback = sched::callback_from_text(value);
        } else if (name == "batch") {
            j.batch = value;
        } else if (name == "submitted_by") {
            j.submitted_by = value;
        } else if (name == "schedule") {
            j.schedule = value;
        } else if (name == "queue") {
            j.queue = value;
        } else if (name == "after") {
            for (auto id : value | std::views::split(' ')) {
                j.after.emplace_back(id.begin(), id.end());
            }
        } else if (name == "then") {
            s.then = json(value);
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
        } else if (name == "worker_pid") {
            has_worker = true;
            number(value, worker.pid);
        } else if (name == "worker_thread") {
            int thread = 0;
            number(value, thread);
            worker.thread = thread;
        } else if (name == "worker_id") {
            worker.id = value;
        } else if (name == "worker_name") {
            worker.name = value;
        } else if (name == "node") {
            j.node = value;
        } else if (name == "token") {
            read.token = value;
        }  // score, cancellable: the scripts'
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
