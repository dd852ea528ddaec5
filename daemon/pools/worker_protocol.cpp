#include "worker_protocol.hpp"

#include <unistd.h>

#include <cerrno>

#include "proto/json_parse.hpp"
#include "proto/json_writer.hpp"

namespace taskpool::daemon::pools {

using nlohmann::json;

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        auto n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string encode_setup(const tasks::TaskSetup& setup) {
    json tasks = json::object();
    for (const auto& [name, spec] : setup.commands) {
        tasks[name] = tasks::to_json(spec);
    }
    json line = {{"setup",
                  {{"test_tasks", setup.test_tasks},
                   {"tasks", std::move(tasks)},
                   {"plugins", setup.plugins},
                   {"addr", setup.daemon_addr}}}};
    return line.dump() + "\n";
}

std::optional<tasks::TaskSetup> decode_setup(std::string_view line) {
    auto doc = proto::parse_json(line);
    if (!doc || !doc->is_object() || !doc->contains("setup")) {
        return std::nullopt;
    }
    try {
        const json& s = doc->at("setup");
        tasks::TaskSetup setup;
        setup.test_tasks = s.at("test_tasks").get<bool>();
        for (const auto& [name, spec] : s.at("tasks").items()) {
            auto parsed = tasks::parse_command_spec(name, spec);
            if (!parsed) {
                return std::nullopt;
            }
            setup.commands.emplace(name, std::move(*parsed));
        }
        setup.plugins = s.at("plugins").get<std::vector<std::string>>();
        setup.daemon_addr = s.at("addr").get<std::string>();
        return setup;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::string encode_child(const std::string& job_id, int attempt, pid_t pgid) {
    std::string out;
    proto::JsonWriter w(out);
    w.begin_object();
    w.field("job", job_id);
    w.field("attempt", attempt);
    w.field("child", static_cast<std::int64_t>(pgid));
    w.end_object();
    out += '\n';
    return out;
}

void encode_run(const sched::Run& run, std::string& out) {
    proto::JsonWriter w(out);
    w.begin_object();
    w.field("job", run.job_id);
    w.field("attempt", run.attempt);
    w.field("task", run.task->name);
    w.field("args", run.args);
    w.end_object();
    out += '\n';
}

std::optional<WorkerRun> decode_run(std::string_view line) {
    auto doc = proto::parse_json(line);
    if (!doc || !doc->is_object()) {
        return std::nullopt;
    }
    try {
        WorkerRun run;
        run.job_id = doc->at("job").get<std::string>();
        run.attempt = doc->at("attempt").get<int>();
        run.task = doc->at("task").get<std::string>();
        if (auto it = doc->find("args"); it != doc->end()) {
            run.args = std::move(*it);
        }
        return run;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::string encode_outcome(const std::string& job_id, int attempt,
                           const tasks::TaskOutcome& outcome, std::chrono::microseconds ran) {
    std::string out;
    proto::JsonWriter w(out);
    w.begin_object();
    w.field("job", job_id);
    w.field("attempt", attempt);
    w.field("us", static_cast<std::int64_t>(ran.count()));
    if (const auto* result = std::get_if<json>(&outcome)) {
        w.field("result", *result);
    } else {
        const auto& error = std::get<proto::JobError>(outcome);
        w.key("error").begin_object();
        w.field("code", proto::to_string(error.code));
        w.field("message", error.message);
        w.end_object();
    }
    w.end_object();
    out += '\n';
    return out;
}

std::optional<WorkerReport> decode_report(std::string_view line) {
    auto doc = proto::parse_json(line);
    if (!doc || !doc->is_object()) {
        return std::nullopt;
    }
    try {
        if (auto child = doc->find("child"); child != doc->end()) {
            return ChildStarted{doc->at("job").get<std::string>(), child->get<pid_t>()};
        }
        RunEnded ended;
        sched::RunOutcome& o = ended.outcome;
        o.job_id = doc->at("job").get<std::string>();
        o.attempt = doc->at("attempt").get<int>();
        ended.ran = std::chrono::microseconds(doc->at("us").get<std::int64_t>());
        if (auto it = doc->find("result"); it != doc->end()) {
            o.outcome = std::move(*it);
        } else {
            const auto& e = doc->at("error");
            auto code = proto::job_error_code_from_string(e.at("code").get<std::string>());
            o.outcome = proto::JobError{code.value_or(proto::JobErrorCode::task_error),
                                        e.at("message").get<std::string>()};
        }
        return ended;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

}  // namespace taskpool::daemon::pools
