#include "worker_protocol.hpp"

#include <unistd.h>

#include <cerrno>

#include <sys/wait.h>

#include <limits>

#include "proto/json_dom.hpp"
#include "proto/json_parse.hpp"
#include "proto/json_writer.hpp"

namespace taskpool::daemon::pools {
namespace {

using nlohmann::json;

template <class Reader>
void read_attempt(Reader& r, int& attempt) {
    std::optional<std::int64_t> n;
    r.integer("attempt", n, 1, std::numeric_limits<int>::max());
    if (!n) {
        r.fail("attempt", "is required");
    }
    attempt = static_cast<int>(n.value_or(0));
}

/// The `error` of a report: a code (an unknown one reads as task_error) and a message.
template <class Reader>
proto::Result<proto::JobError> read_job_error(Reader& e) {
    std::string code;
    proto::JobError error{proto::JobErrorCode::task_error, {}};
    e.text("code", code);
    e.text("message", error.message);
    if (auto done = e.finish(); !done) {
        return done.error();
    }
    error.code = proto::job_error_code_from_string(code).value_or(proto::JobErrorCode::task_error);
    return error;
}

}  // namespace

std::string_view worker_exit_meaning(int wait_status) {
    if (!WIFEXITED(wait_status)) {
        return {};
    }
    switch (static_cast<WorkerExit>(WEXITSTATUS(wait_status))) {
        case WorkerExit::done:
            return "its channel closed";
        case WorkerExit::orphaned:
            return "the daemon that started it was gone";
        case WorkerExit::bad_line:
            return "it could not decode a line from the daemon";
        case WorkerExit::cannot_drop_user:
            return "it could not become process_pool.user";
        case WorkerExit::cannot_load_tasks:
            return "a task or a plugin failed to load; see its message above";
    }
    return {};
}

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

proto::Result<tasks::TaskSetup> decode_setup(std::string_view line) {
    auto doc = proto::parse_json(line);
    if (!doc) {
        return doc.error();
    }
    if (!doc->is_object()) {
        return proto::bad_request("must be a JSON object");
    }
    proto::FieldReader top(*doc);
    auto r = top.object("setup");
    if (!r) {
        top.fail("setup", "is required");
        return top.finish().error();
    }
    tasks::TaskSetup setup;
    std::optional<bool> test_tasks;
    r->boolean("test_tasks", test_tasks);
    setup.test_tasks = test_tasks.value_or(false);
    if (auto commands = r->find("tasks"); commands && (*commands)->is_object()) {
        for (const auto& [name, spec] : (*commands)->items()) {
            auto parsed = tasks::parse_command_spec(name, spec);
            if (!parsed) {
                return parsed.error();
            }
            setup.commands.emplace(name, std::move(*parsed));
        }
    } else if (commands) {
        r->fail("tasks", "must be an object");
    }
    std::optional<std::vector<std::string>> plugins;
    r->text_list("plugins", plugins);
    setup.plugins = plugins.value_or(std::vector<std::string>{});
    r->text("addr", setup.daemon_addr);
    if (auto done = r->finish(); !done) {
        return done.error();
    }
    if (auto done = top.finish(); !done) {
        return done.error();
    }
    return setup;
}

std::string encode_child(const std::string& job_id, int attempt, pid_t pgid) {
    proto::JsonWriter w;
    w.begin_object();
    w.field("job", job_id);
    w.field("attempt", attempt);
    w.field("child", static_cast<std::int64_t>(pgid));
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

std::string encode_progress(const std::string& job_id, int attempt,
                            const proto::RawJson& progress) {
    proto::JsonWriter w;
    w.begin_object();
    w.field("job", job_id);
    w.field("attempt", attempt);
    w.field("progress", progress);
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

void encode_run(const sched::Run& run, std::string& out) {
    proto::JsonWriter w(std::move(out));
    w.begin_object();
    w.field("job", run.job_id);
    w.field("attempt", run.attempt);
    w.field("task", run.task->name);
    w.field("args", run.args);
    w.end_object();
    w.raw("\n");
    out = std::move(w).take();
}

proto::Result<WorkerRun> decode_run(std::string_view line) {
    return proto::read_object(line, [](auto& r) -> proto::Result<WorkerRun> {
        WorkerRun run;
        r.text("job", run.job_id);
        read_attempt(r, run.attempt);
        r.text("task", run.task);
        r.raw("args", run.args);
        if (auto done = r.finish(); !done) {
            return done.error();
        }
        return run;
    });
}

std::string encode_outcome(const std::string& job_id, int attempt,
                           const tasks::TaskOutcome& outcome, std::chrono::microseconds ran) {
    proto::JsonWriter w;
    w.begin_object();
    w.field("job", job_id);
    w.field("attempt", attempt);
    w.field("us", static_cast<std::int64_t>(ran.count()));
    if (const auto* result = std::get_if<proto::RawJson>(&outcome)) {
        w.field("result", *result);
    } else {
        const auto& error = std::get<proto::JobError>(outcome);
        w.key("error").begin_object();
        w.field("code", proto::to_string(error.code));
        w.field("message", error.message);
        w.end_object();
    }
    w.end_object();
    w.raw("\n");
    return std::move(w).take();
}

proto::Result<WorkerReport> decode_report(std::string_view line) {
    return proto::read_object(line, [](auto& r) -> proto::Result<WorkerReport> {
        std::string job_id;
        r.text("job", job_id);
        int attempt = 0;
        read_attempt(r, attempt);
        std::optional<std::int64_t> child;
        r.integer("child", child, 1, std::numeric_limits<pid_t>::max());
        if (child) {
            if (auto done = r.finish(); !done) {
                return done.error();
            }
            return WorkerReport(ChildStarted{std::move(job_id), static_cast<pid_t>(*child)});
        }
        std::optional<proto::RawJson> progress;
        r.raw("progress", progress);
        if (progress) {
            if (auto done = r.finish(); !done) {
                return done.error();
            }
            return WorkerReport(Progressed{std::move(job_id), attempt, std::move(*progress)});
        }
        RunEnded ended;
        std::optional<std::int64_t> us;
        r.integer("us", us, 0, std::numeric_limits<std::int64_t>::max());
        ended.ran = std::chrono::microseconds(us.value_or(0));
        std::optional<proto::RawJson> result;
        r.raw("result", result);
        if (auto e = r.object("error")) {
            auto error = read_job_error(*e);
            if (!error) {
                return error.error();
            }
            ended.outcome = std::move(*error);
        } else if (result) {
            ended.outcome = std::move(*result);
        } else {
            r.fail("result", "or 'error' is required");
        }
        if (auto done = r.finish(); !done) {
            return done.error();
        }
        ended.job_id = std::move(job_id);
        ended.attempt = attempt;
        return WorkerReport(std::move(ended));
    });
}

}  // namespace taskpool::daemon::pools
