#include "command_task.hpp"

#include "job_processes.hpp"

#include <sys/wait.h>

#include "proto/json_fields.hpp"
#include "proto/json_parse.hpp"
#include "proto/json_writer.hpp"
#include "proto/progress_lines.hpp"
#include "proto/utf8.hpp"

namespace taskpool::daemon::tasks {
namespace {

using nlohmann::json;
using proto::JobError;
using proto::JobErrorCode;
using proto::Result;

constexpr std::string_view default_path = "/usr/local/bin:/usr/bin:/bin";
// How much of stderr an exit_status message quotes.
constexpr std::size_t stderr_tail_bytes = 2000;

/// A field's value as argv text; nullopt for a value that has no text form.
std::optional<std::string> as_text(const json& v) {
    if (v.is_string()) {
        return v.get<std::string>();
    }
    if (v.is_number() || v.is_boolean()) {
        return v.dump();
    }
    return std::nullopt;
}

Result<void> check_args(const CommandSpec& spec, const std::vector<std::string>& argv_fields,
                        const proto::RawJson& raw_args) {
    auto fields = spec.fields();
    if (fields.empty()) {
        return {};
    }
    json args = raw_args.parse();
    if (!args.is_object()) {
        return proto::bad_request("field 'args' must be an object with " +
                                  std::string(fields.size() == 1 ? "field '" : "fields '") +
                                  fields.front() + (fields.size() == 1 ? "'" : "', ..."));
    }
    for (const auto& name : fields) {
        auto it = args.find(name);
        std::string path = "field 'args." + name + "'";
        if (it == args.end()) {
            return proto::bad_request(path + " is required");
        }
        bool in_argv = std::find(argv_fields.begin(), argv_fields.end(), name) != argv_fields.end();
        if (!in_argv) {
            continue;  // stdin takes any JSON value
        }
        auto text = as_text(*it);
        if (!text) {
            return proto::bad_request(path + " must be a string, a number or a boolean");
        }
        if (text->find('\0') != std::string::npos) {
            return proto::bad_request(path + " must not contain a NUL character");
        }
        if (!spec.allow_options && !text->empty() && text->front() == '-') {
            return proto::bad_request(path +
                                      " must not start with '-': this task takes no options "
                                      "from its args (allow_options is off)");
        }
    }
    return {};
}

std::vector<std::string> expand_argv(const CommandSpec& spec, const std::string& program,
                                     const json& args) {
    std::vector<std::string> argv{program};
    for (const auto& arg : spec.argv) {
        std::string text;
        for (const auto& part : arg.parts) {
            text += part.is_field ? *as_text(args.at(part.text)) : part.text;
        }
        argv.push_back(std::move(text));
    }
    return argv;
}

std::optional<std::string> stdin_of(const CommandSpec& spec, const proto::RawJson& raw_args,
                                    const json& args) {
    switch (spec.stdin_from) {
        case CommandSpec::Stdin::none:
            return std::nullopt;
        case CommandSpec::Stdin::args:
            return std::string(raw_args.text()) + "\n";
        case CommandSpec::Stdin::field: {
            const json& v = args.at(spec.stdin_field);
            return v.is_string() ? v.get<std::string>() : proto::json_text(v) + "\n";
        }
    }
    return std::nullopt;
}

/// The configured variables, a PATH, then those the daemon always sets.
std::vector<std::string> environment_of(const CommandSpec& spec, const CommandEnvironment& env,
                                        std::string_view job_id, int attempt, std::string& path) {
    std::vector<std::string> out;
    path = std::string(default_path);
    for (const auto& [name, value] : spec.env) {
        if (name == "PATH") {
            path = value;
        } else if (name != "TASKPOOL_ADDR" && name != "TASKPOOL_JOB_ID" &&
                   name != "TASKPOOL_ATTEMPT" && name != "TASKPOOL_PROGRESS_FD") {
            out.push_back(name + "=" + value);
        }
    }
    out.push_back("PATH=" + path);
    out.push_back("TASKPOOL_ADDR=" + env.daemon_addr);
    out.push_back("TASKPOOL_JOB_ID=" + std::string(job_id));
    out.push_back("TASKPOOL_ATTEMPT=" + std::to_string(attempt));
    out.push_back("TASKPOOL_PROGRESS_FD=3");
    return out;
}

std::string stderr_tail(const std::string& err) {
    std::string_view s = err;
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    if (s.size() > stderr_tail_bytes) {
        s = s.substr(s.size() - stderr_tail_bytes);
        return "..." + proto::to_valid_utf8(s);
    }
    return proto::to_valid_utf8(s);
}

TaskOutcome outcome_of(const CommandSpec& spec, const SubprocessResult& r) {
    if (r.stopped) {
        return JobError{JobErrorCode::cancelled, "stopped before it finished"};
    }
    bool clean_exit = WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0;
    if (!clean_exit) {
        std::string tail = stderr_tail(r.err);
        return JobError{JobErrorCode::exit_status, "the command " + describe_exit(r.wait_status) +
                                                       (tail.empty() ? "" : ": " + tail)};
    }
    if (spec.output == CommandSpec::Output::json) {
        if (r.out_truncated) {
            return JobError{JobErrorCode::task_error, "stdout is longer than max_output_bytes (" +
                                                          std::to_string(spec.max_output_bytes) +
                                                          "), so not read as JSON"};
        }
        auto parsed = proto::compact_json(proto::to_valid_utf8(r.out));
        if (!parsed) {
            return JobError{JobErrorCode::task_error,
                            "stdout is not JSON (output is json): " + parsed.error().message};
        }
        return std::move(*parsed);
    }
    return proto::RawJson(json{{"exit_code", 0},
                               {"stdout", proto::to_valid_utf8(r.out)},
                               {"stderr", proto::to_valid_utf8(r.err)},
                               {"truncated", r.out_truncated || r.err_truncated}});
}

}  // namespace

Task make_command_task(const std::string& name, const CommandSpec& spec,
                       std::shared_ptr<const CommandEnvironment> environment) {
    std::vector<std::string> argv_fields;
    for (const auto& arg : spec.argv) {
        for (const auto& part : arg.parts) {
            if (part.is_field) {
                argv_fields.push_back(part.text);
            }
        }
    }
    Task t;
    t.name = name;
    t.kind = "command";
    t.pool = spec.pool;
    t.description = spec.description;
    t.timeout_s = spec.timeout_s;
    t.check = [spec, argv_fields](const proto::RawJson& args) {
        return check_args(spec, argv_fields, args);
    };
    t.run = [spec, environment](const proto::RawJson& raw_args,
                                const TaskContext& ctx) -> TaskOutcome {
        // Fields are read only where the command names some.
        json args = spec.fields().empty() ? json() : raw_args.parse();
        SubprocessSpec sub;
        std::string path;
        sub.env = environment_of(spec, *environment, ctx.job_id, ctx.attempt, path);
        auto program = find_program(spec.command.front(), path);
        if (!program) {
            return JobError{JobErrorCode::task_error,
                            "cannot run '" + spec.command.front() + "': not found in PATH " + path};
        }
        sub.program = *program;
        sub.argv = expand_argv(spec, spec.command.front(), args);
        sub.cwd = spec.cwd;
        sub.input = stdin_of(spec, raw_args, args);
        sub.max_output_bytes = static_cast<std::size_t>(spec.max_output_bytes);
        sub.user = environment->run_as ? &*environment->run_as : nullptr;
        proto::ProgressLines progress;
        sub.on_progress = [&](std::string_view written) {
            if (auto value = progress.feed(written)) {
                ctx.progress(std::move(*value));
            }
        };
        auto result = run_subprocess(sub, ctx.stop, ctx.on_child);
        kill_job_processes(ctx.job_id, ctx.attempt);  // what left its process group goes too
        if (!result) {
            return JobError{JobErrorCode::task_error,
                            "cannot run '" + spec.command.front() + "': " + result.error()};
        }
        return outcome_of(spec, *result);
    };
    return t;
}

}  // namespace taskpool::daemon::tasks
