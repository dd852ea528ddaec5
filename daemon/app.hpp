#pragma once

#include <functional>

#include "config/config.hpp"
#include "proto/result.hpp"

namespace taskpool::daemon {

/// Reads the config again from where it came (SIGHUP).
using ConfigReloader = std::function<proto::Result<Config>()>;

/// Runs the daemon until it has shut down; returns the process exit code
/// (0 after a shutdown, 1 when it could not start). Logging must be set up.
/// SIGHUP applies what `reload` reads that can change while it runs.
int run(Config& config, const ConfigReloader& reload);

}  // namespace taskpool::daemon
