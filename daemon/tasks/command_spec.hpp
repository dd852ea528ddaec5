#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/job.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon::tasks {

/// One argv element as configured: literal text and `{field}` placeholders, each
/// replaced by that field of the job's args. A field's name has letters, digits,
/// '_' and '-'; `{{` and `}}` are literal braces, and so is any other brace.
struct ArgTemplate {
    struct Part {
        bool is_field = false;
        std::string text;  // the literal, or the field's name
    };
    std::vector<Part> parts;
};

/// A command task as declared under `tasks` in the config (DESIGN.md section 4).
struct CommandSpec {
    std::vector<std::string> command;  // as written; command[0] is the program
    std::vector<ArgTemplate> argv;     // command[1..], parsed
    enum class Stdin { none, args, field } stdin_from = Stdin::none;
    std::string stdin_field;  // for Stdin::field
    enum class Output { text, json } output = Output::text;
    proto::PoolKind pool = proto::PoolKind::process;
    std::optional<double> timeout_s;  // of a job that names none
    std::map<std::string, std::string> env;
    std::optional<std::string> cwd;
    bool allow_options = false;  // let a substituted value start with '-'
    std::string description;
    std::int64_t max_output_bytes = 1 << 20;  // each of stdout and stderr

    /// The fields of args the command reads, each once, in order of appearance.
    std::vector<std::string> fields() const;
};

/// Reads the declaration of task `name`; an error names the key under `tasks.name`.
proto::Result<CommandSpec> parse_command_spec(const std::string& name, const nlohmann::json& doc);

/// The declaration with every default written out (what --check-config prints).
nlohmann::json to_json(const CommandSpec& spec);

/// True for a name a task may have: letters, digits, '_', '-', '.' and ':'.
bool valid_task_name(std::string_view name);

}  // namespace taskpool::daemon::tasks
