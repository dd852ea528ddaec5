#include "command_spec.hpp"

#include <algorithm>
#include <cctype>

#include "proto/json_fields.hpp"

namespace taskpool::daemon::tasks {
namespace {

using nlohmann::json;
using proto::Result;

constexpr double max_timeout_s = 366.0 * 24 * 3600;
constexpr std::int64_t min_output_bytes = 1024;
constexpr std::int64_t max_output_bytes = 1 << 30;

bool field_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

/// The length of the placeholder `{name}` at the start of `s`, or 0 where `s` does
/// not start with one.
std::size_t placeholder_length(std::string_view s) {
    auto close = s.find('}');
    if (s.empty() || s[0] != '{' || close == std::string_view::npos || close == 1) {
        return 0;
    }
    auto name = s.substr(1, close - 1);
    return std::all_of(name.begin(), name.end(), field_name_char) ? close + 1 : 0;
}

/// Splits "a{x}b{{c" into parts. Only `{name}` is a placeholder and `{{`, `}}` are
/// escapes; any other brace is literal, so awk, jq and Python code pass unchanged.
ArgTemplate parse_template(std::string_view s) {
    ArgTemplate t;
    std::string literal;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if ((c == '{' || c == '}') && i + 1 < s.size() && s[i + 1] == c) {
            literal += c;
            ++i;
        } else if (auto length = placeholder_length(s.substr(i)); length > 0) {
            if (!literal.empty()) {
                t.parts.push_back({false, std::move(literal)});
                literal.clear();
            }
            t.parts.push_back({true, std::string(s.substr(i + 1, length - 2))});
            i += length - 1;
        } else {
            literal += c;
        }
    }
    if (!literal.empty()) {
        t.parts.push_back({false, std::move(literal)});
    }
    return t;
}

bool has_placeholder(const ArgTemplate& t) {
    return std::any_of(t.parts.begin(), t.parts.end(), [](const auto& p) { return p.is_field; });
}

}  // namespace

bool valid_task_name(std::string_view name) {
    return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
        return field_name_char(c) || c == '.' || c == ':';
    });
}

std::vector<std::string> CommandSpec::fields() const {
    std::vector<std::string> out;
    auto add = [&](const std::string& f) {
        if (std::find(out.begin(), out.end(), f) == out.end()) {
            out.push_back(f);
        }
    };
    for (const auto& arg : argv) {
        for (const auto& part : arg.parts) {
            if (part.is_field) {
                add(part.text);
            }
        }
    }
    if (stdin_from == Stdin::field) {
        add(stdin_field);
    }
    return out;
}

Result<CommandSpec> parse_command_spec(const std::string& name, const json& doc) {
    std::string path = "tasks." + name;
    if (!valid_task_name(name)) {
        return proto::bad_request("task name '" + name +
                                  "' may only have letters, digits, '_', '-', '.' and ':'");
    }
    if (!doc.is_object()) {
        return proto::bad_request("'" + path + "' must be an object");
    }
    CommandSpec spec;
    proto::FieldReader r(doc, path + ".");
    std::optional<std::vector<std::string>> command;
    r.text_list("command", command);
    if (command) {
        if (command->empty() || command->front().empty()) {
            r.fail("command", "must name a program first");
        } else if (has_placeholder(parse_template(command->front()))) {
            r.fail("command", "must name its program literally, not with a {field}");
        } else {
            for (std::size_t i = 1; i < command->size(); ++i) {
                spec.argv.push_back(parse_template((*command)[i]));
            }
            spec.command = std::move(*command);
        }
    } else {
        r.fail("command", "is required");
    }

    std::optional<std::string> stdin_spec;
    r.text("stdin", stdin_spec);
    if (stdin_spec) {
        if (*stdin_spec == "args") {
            spec.stdin_from = CommandSpec::Stdin::args;
        } else if (auto t = parse_template(*stdin_spec);
                   t.parts.size() == 1 && t.parts[0].is_field) {
            spec.stdin_from = CommandSpec::Stdin::field;
            spec.stdin_field = t.parts[0].text;
        } else {
            r.fail("stdin", "must be \"args\" or \"{field}\"");
        }
    }
    std::optional<std::size_t> output;
    r.choice("output", output, {"text", "json"});
    spec.output = output.value_or(0) == 0 ? CommandSpec::Output::text : CommandSpec::Output::json;
    std::optional<std::size_t> pool;
    r.choice("pool", pool, {"process", "thread"});
    spec.pool = pool.value_or(0) == 0 ? proto::PoolKind::process : proto::PoolKind::thread;
    r.number("timeout_s", spec.timeout_s, 0.001, max_timeout_s);

    json env;
    r.any("env", env);
    if (env.is_object()) {
        for (const auto& [key, value] : env.items()) {
            if (key.empty() || key.find('=') != std::string::npos || !value.is_string()) {
                r.fail("env", "must map names (without '=') to strings");
                break;
            }
            spec.env[key] = value.get<std::string>();
        }
    } else if (!env.is_null()) {
        r.fail("env", "must be an object of strings");
    }
    r.text("cwd", spec.cwd);
    std::optional<bool> allow_options;
    r.boolean("allow_options", allow_options);
    spec.allow_options = allow_options.value_or(false);
    std::optional<std::string> description;
    r.text("description", description);
    if (description) {
        spec.description = std::move(*description);
    } else if (!spec.command.empty()) {
        spec.description = "runs " + spec.command.front();
    }
    std::optional<std::int64_t> max_output;
    r.integer("max_output_bytes", max_output, min_output_bytes, max_output_bytes);
    spec.max_output_bytes = max_output.value_or(spec.max_output_bytes);
    if (auto done = r.finish(); !done) {
        return done.error();
    }
    return spec;
}

json to_json(const CommandSpec& spec) {
    json doc = {{"command", spec.command},
                {"output", spec.output == CommandSpec::Output::text ? "text" : "json"},
                {"pool", spec.pool == proto::PoolKind::process ? "process" : "thread"},
                {"env", spec.env},
                {"allow_options", spec.allow_options},
                {"description", spec.description},
                {"max_output_bytes", spec.max_output_bytes}};
    if (spec.stdin_from == CommandSpec::Stdin::args) {
        doc["stdin"] = "args";
    } else if (spec.stdin_from == CommandSpec::Stdin::field) {
        doc["stdin"] = "{" + spec.stdin_field + "}";
    }
    if (spec.timeout_s) {
        doc["timeout_s"] = *spec.timeout_s;
    }
    if (spec.cwd) {
        doc["cwd"] = *spec.cwd;
    }
    return doc;
}

}  // namespace taskpool::daemon::tasks
