#pragma once

#include "config/config.hpp"

namespace taskpool::daemon {

/// Runs the daemon until it has shut down; returns the process exit code
/// (0 after a shutdown, 1 when it could not start). Logging must be set up.
int run(const Config& config);

}  // namespace taskpool::daemon
