#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon {

/// Reads an environment variable; std::getenv in production, a map in tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

std::optional<std::string> process_env(const std::string& name);

/// Where the config comes from, lowest precedence first: the built-in defaults, the
/// file, `TASKPOOL_*` variables, then `flags` (an object shaped like the file).
struct ConfigSources {
    std::optional<std::string> file;  // else $TASKPOOL_CONFIG, else none
    nlohmann::json flags = nlohmann::json::object();
    EnvLookup env = process_env;
};

/// Builds the Config. An error names the source and the key's path, in one line:
/// "taskpool.json: unknown key 'queue.maxsize'".
proto::Result<Config> load_config(const ConfigSources& sources);

/// Applies one JSON object (file-shaped) over `config`; `origin` names it in errors.
proto::Result<void> apply_config_json(Config& config, const nlohmann::json& doc,
                                      const std::string& origin);

/// Every key and its value, shaped like the config file.
nlohmann::json config_to_json(const Config& config);

/// The environment variable that overrides a key: "TASKPOOL_" + path in upper case,
/// dots as underscores (limits.idle_timeout_s -> TASKPOOL_LIMITS_IDLE_TIMEOUT_S).
std::string env_name_for(std::string_view path);

}  // namespace taskpool::daemon
