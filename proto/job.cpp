#include "job.hpp"

#include <array>
#include <ctime>

namespace taskpool::proto {
namespace {

constexpr std::array pool_names{std::string_view{"thread"}, std::string_view{"process"},
                                std::string_view{"remote"}};
constexpr std::array state_names{std::string_view{"scheduled"}, std::string_view{"waiting"},
                                 std::string_view{"queued"},    std::string_view{"running"},
                                 std::string_view{"succeeded"}, std::string_view{"failed"},
                                 std::string_view{"cancelled"}};

template <class E, std::size_t N>
std::optional<E> enum_from(const std::array<std::string_view, N>& names, std::string_view s) {
    for (std::size_t i = 0; i < N; ++i) {
        if (names[i] == s) {
            return static_cast<E>(i);
        }
    }
    return std::nullopt;
}

template <std::size_t N>
void write_time(JsonWriter& w, const char (&name)[N], Timestamp t) {
    auto text = timestamp_text(t);
    w.key(name).plain_value(std::string_view(text.data(), text.size()));
}

/// `{"code": ..., "message": ...}`, of a job's error or a request's.
template <std::size_t N, class E>
void write_error(JsonWriter& w, const char (&name)[N], const E& error) {
    w.key(name).begin_object();
    w.key("code").plain_value(to_string(error.code));
    w.field("message", error.message);
    w.end_object();
}

}  // namespace

std::string_view to_string(PoolKind pool) {
    return pool_names.at(static_cast<std::size_t>(pool));
}
std::string_view to_string(JobState s) {
    return state_names.at(static_cast<std::size_t>(s));
}
std::optional<PoolKind> pool_from_string(std::string_view s) {
    return enum_from<PoolKind>(pool_names, s);
}
std::optional<JobState> state_from_string(std::string_view s) {
    return enum_from<JobState>(state_names, s);
}

Timestamp now_timestamp() {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
}

TimestampText timestamp_text(Timestamp t) {
    // Every job reply carries up to three of these: digits are written by hand
    // (snprintf and gmtime_r were a sixth of the io thread's instructions), and all
    // but the milliseconds are worked out once a second.
    using namespace std::chrono;
    auto put = [](char* at, unsigned value, std::size_t digits) {
        for (std::size_t i = digits; i-- > 0; value /= 10) {
            at[i] = static_cast<char>('0' + value % 10);
        }
    };
    auto second = floor<seconds>(t);
    thread_local std::pair<sys_seconds, TimestampText> last{sys_seconds::min(), {}};
    auto& [last_second, text] = last;
    if (last_second != second) {
        last_second = second;
        auto day = floor<days>(second);
        year_month_day date{day};
        hh_mm_ss<seconds> time{second - day};
        put(&text[0], static_cast<unsigned>(static_cast<int>(date.year())), 4);
        text[4] = '-';
        put(&text[5], static_cast<unsigned>(date.month()), 2);
        text[7] = '-';
        put(&text[8], static_cast<unsigned>(date.day()), 2);
        text[10] = 'T';
        put(&text[11], static_cast<unsigned>(time.hours().count()), 2);
        text[13] = ':';
        put(&text[14], static_cast<unsigned>(time.minutes().count()), 2);
        text[16] = ':';
        put(&text[17], static_cast<unsigned>(time.seconds().count()), 2);
        text[19] = '.';
        text[23] = 'Z';
    }
    put(&text[20], static_cast<unsigned>((t - second).count()), 3);
    return text;
}

std::string format_timestamp(Timestamp t) {
    auto text = timestamp_text(t);
    return std::string(text.data(), text.size());
}

std::optional<Timestamp> parse_timestamp(std::string_view s) {
    // RFC 3339: "2026-11-22T10:00:00Z", with any fraction of a second (kept to the
    // millisecond), `t` or a space for `T`, and `z` or an offset like +02:00.
    std::size_t at = 0;
    auto digits = [&](std::size_t n, int& out) {
        if (at + n > s.size()) {
            return false;
        }
        out = 0;
        for (std::size_t end = at + n; at < end; ++at) {
            if (s[at] < '0' || s[at] > '9') {
                return false;
            }
            out = out * 10 + (s[at] - '0');
        }
        return true;
    };
    auto literal = [&](std::string_view any_of) {
        return at < s.size() && any_of.find(s[at]) != std::string_view::npos && ++at;
    };
    std::tm tm{};
    if (!digits(4, tm.tm_year) || !literal("-") || !digits(2, tm.tm_mon) || !literal("-") ||
        !digits(2, tm.tm_mday) || !literal("Tt ") || !digits(2, tm.tm_hour) || !literal(":") ||
        !digits(2, tm.tm_min) || !literal(":") || !digits(2, tm.tm_sec)) {
        return std::nullopt;
    }
    int ms = 0;
    if (literal(".")) {
        std::size_t first = at;
        for (int scale = 100; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, scale /= 10) {
            ms += (s[at] - '0') * scale;
        }
        if (at == first) {
            return std::nullopt;
        }
    }
    int offset_minutes = 0;
    if (!literal("Zz")) {
        int sign = at < s.size() && s[at] == '-' ? -1 : 1;
        int hours = 0;
        int minutes = 0;
        if (!literal("+-") || !digits(2, hours) || !literal(":") || !digits(2, minutes) ||
            hours > 23 || minutes > 59) {
            return std::nullopt;
        }
        offset_minutes = sign * (hours * 60 + minutes);
    }
    if (at != s.size() || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    auto secs = static_cast<long long>(timegm(&tm)) - offset_minutes * 60LL;
    return Timestamp(std::chrono::milliseconds(secs * 1000 + ms));
}

void write_job(JsonWriter& w, const Job& job) {
    w.begin_object();
    write_job_fields(w, job);
    w.end_object();
}

void write_job_fields(JsonWriter& w, const Job& job) {
    w.field("id", job.id);
    w.field("task", job.task);
    w.field("args", job.args);
    w.key("pool").plain_value(to_string(job.pool));
    w.field("priority", job.priority);
    w.key("state").plain_value(to_string(job.state));
    if (job.result) {
        w.field("result", *job.result);
    }
    if (job.error) {
        write_error(w, "error", *job.error);
    }
    w.field("attempts", job.attempts);
    if (job.progress) {
        w.field("progress", *job.progress);
    }
    if (job.worker) {
        w.key("worker").begin_object();
        if (!job.worker->id.empty()) {
            w.field("id", job.worker->id);
            w.field("name", job.worker->name);
        } else {
            w.field("pid", job.worker->pid);
        }
        if (job.worker->thread) {
            w.field("thread", *job.worker->thread);
        }
        w.end_object();
    }
    if (job.node) {
        w.field("node", *job.node);
    }
    if (job.batch) {
        w.field("batch", *job.batch);
    }
    if (job.queue) {
        w.field("queue", *job.queue);
    }
    if (job.schedule) {
        w.field("schedule", *job.schedule);
    }
    if (job.submitted_by) {
        w.field("submitted_by", *job.submitted_by);
    }
    write_time(w, "submitted_at", job.submitted_at);
    if (job.scheduled_for) {
        write_time(w, "scheduled_for", *job.scheduled_for);
    }
    if (!job.after.empty()) {
        w.key("after").begin_array();
        for (const auto& id : job.after) {
            w.value(id);
        }
        w.end_array();
    }
    if (job.then_job) {
        w.field("then_job", *job.then_job);
    }
    if (job.then_error) {
        write_error(w, "then_error", *job.then_error);
    }
    if (job.started_at) {
        write_time(w, "started_at", *job.started_at);
    }
    if (job.finished_at) {
        write_time(w, "finished_at", *job.finished_at);
    }
}

std::string encode_job(const Job& job) {
    JsonWriter w;
    write_job(w, job);
    return std::move(w).take();
}

Result<Job> decode_job(const nlohmann::json& j) {
    if (!j.is_object()) {
        return bad_request("a job must be an object");
    }
    try {
        Job job;
        job.id = j.at("id").get<std::string>();
        job.task = j.at("task").get<std::string>();
        job.args = RawJson(j.value("args", nlohmann::json()));
        job.pool = pool_from_string(j.at("pool").get<std::string>()).value();
        job.priority = j.value("priority", 0);
        job.state = state_from_string(j.at("state").get<std::string>()).value();
        if (auto it = j.find("result"); it != j.end()) {
            job.result = RawJson(*it);
        }
        if (auto it = j.find("error"); it != j.end()) {
            auto code = job_error_code_from_string(it->at("code").get<std::string>());
            job.error = JobError{code.value_or(JobErrorCode::task_error),
                                 it->value("message", std::string())};
        }
        job.attempts = j.value("attempts", 0);
        if (auto it = j.find("progress"); it != j.end()) {
            job.progress = RawJson(*it);
        }
        if (auto it = j.find("worker"); it != j.end()) {
            WorkerInfo worker{it->value("pid", std::int64_t{0}), std::nullopt,
                              it->value("id", std::string()), it->value("name", std::string())};
            if (it->contains("thread")) {
                worker.thread = it->at("thread").get<int>();
            }
            job.worker = std::move(worker);
        }
        if (auto it = j.find("node"); it != j.end()) {
            job.node = it->get<std::string>();
        }
        if (auto it = j.find("batch"); it != j.end()) {
            job.batch = it->get<std::string>();
        }
        if (auto it = j.find("queue"); it != j.end()) {
            job.queue = it->get<std::string>();
        }
        if (auto it = j.find("schedule"); it != j.end()) {
            job.schedule = it->get<std::string>();
        }
        if (auto it = j.find("submitted_by"); it != j.end()) {
            job.submitted_by = it->get<std::string>();
        }
        job.submitted_at = parse_timestamp(j.at("submitted_at").get<std::string>()).value();
        job.after = j.value("after", std::vector<std::string>{});
        if (auto it = j.find("then_job"); it != j.end()) {
            job.then_job = it->get<std::string>();
        }
        if (auto it = j.find("then_error"); it != j.end()) {
            job.then_error = Error{error_code_from_string(it->at("code").get<std::string>())
                                       .value_or(ErrorCode::internal),
                                   it->value("message", std::string())};
        }
        if (auto it = j.find("scheduled_for"); it != j.end()) {
            job.scheduled_for = parse_timestamp(it->get<std::string>());
        }
        if (auto it = j.find("started_at"); it != j.end()) {
            job.started_at = parse_timestamp(it->get<std::string>());
        }
        if (auto it = j.find("finished_at"); it != j.end()) {
            job.finished_at = parse_timestamp(it->get<std::string>());
        }
        return job;
    } catch (const std::exception& e) {
        return bad_request(std::string("malformed job: ") + e.what());
    }
}

}  // namespace taskpool::proto
