#include "job_fields.hpp"

#include <charconv>
#include <string_view>

namespace taskpool::daemon::cluster {
namespace {

using proto::Timestamp;

std::string millis(Timestamp t) {
    return std::to_string(t.time_since_epoch().count());
}

void add(std::vector<std::string>& out, std::string_view name, std::string value) {
    out.emplace_back(name);
    out.push_back(std::move(value));
}

template <class Int>
bool to_int(std::string_view text, Int& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

proto::Error corrupt(std::string_view what) {
    return {proto::ErrorCode::internal,
            "a job in Redis is not as taskpoold writes it (" + std::string(what) + ")"};
}

}  // namespace

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
    add(out, "submitted_at", millis(j.submitted_at));
    if (s.timeout_s) {
        add(out, "timeout_s", std::to_string(*s.timeout_s));
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
}

void JobFields::started(const proto::Job& j, std::vector<std::string>& out) {
    add(out, "attempts", std::to_string(j.attempts));
    add(out, "started_at", millis(*j.started_at));
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
    add(out, "finished_at", millis(*j.finished_at));
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
}

proto::Result<ReadJob> read_job(const RedisReply& fields) {
    if (fields.kind != RedisReply::Kind::array || fields.elements.size() % 2 != 0) {
        return corrupt("not a hash");
    }
    ReadJob read;
    sched::StoredJob& s = read.stored;
    proto::Job& j = s.job;
    proto::WorkerInfo worker;
    bool has_worker = false;
    std::optional<proto::JobErrorCode> error_code;
    std::string error_message;
    bool ok = true;
    auto json = [&](std::string_view text) {
        auto value = proto::RawJson::from_text(text);
        ok = ok && value.has_value();
        return value.value_or(proto::RawJson());
    };
    auto time = [&](std::string_view text) {
        std::int64_t ms = 0;
        ok = ok && to_int(text, ms);
        return Timestamp(std::chrono::milliseconds(ms));
    };
    auto integer = [&](std::string_view text, auto& out) { ok = ok && to_int(text, out); };
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
            integer(value, j.priority);
        } else if (name == "state") {
            auto state = proto::state_from_string(value);
            ok = ok && state.has_value();
            j.state = state.value_or(proto::JobState::queued);
        } else if (name == "attempts") {
            integer(value, j.attempts);
        } else if (name == "retries") {
            integer(value, s.retries_left);
        } else if (name == "seq") {
            integer(value, s.seq);
        } else if (name == "submitted_at") {
            j.submitted_at = time(value);
        } else if (name == "started_at") {
            j.started_at = time(value);
        } else if (name == "finished_at") {
            j.finished_at = time(value);
        } else if (name == "timeout_s") {
            s.timeout_s = std::stod(value);
        } else if (name == "key") {
            s.key = value;
        } else if (name == "callback") {
            s.callback = sched::callback_from_text(value);
        } else if (name == "batch") {
            j.batch = value;
        } else if (name == "submitted_by") {
            j.submitted_by = value;
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
            integer(value, worker.pid);
        } else if (name == "worker_thread") {
            int thread = 0;
            integer(value, thread);
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
        return corrupt(j.id.empty() ? "no id" : "job " + j.id);
    }
    if (has_worker) {
        j.worker = std::move(worker);
    }
    if (error_code) {
        j.error = proto::JobError{*error_code, std::move(error_message)};
    }
    return read;
}

}  // namespace taskpool::daemon::cluster
