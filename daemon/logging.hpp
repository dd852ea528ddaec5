#pragma once

#include <string>

namespace taskpool::daemon {

/// Sends the default spdlog logger to stdout, as text for people or as one JSON
/// object a line for containers ({"time", "level", "msg"}). Call once at start-up.
/// `level` and `format` are already validated by the config loader.
void setup_logging(const std::string& level, const std::string& format);

}  // namespace taskpool::daemon
