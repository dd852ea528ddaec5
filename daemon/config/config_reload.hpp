#pragma once

#include <string>
#include <vector>

#include "config.hpp"

namespace taskpool::daemon {

/// What a reload (SIGHUP) did: the keys it changed, and those that changed in the
/// sources but take effect only after a restart.
struct ConfigReload {
    std::vector<std::string> applied;
    std::vector<std::string> need_restart;
};

/// Applies to `live` what can change in a running daemon: the token (auth), the
/// limits (new connections, and the output and timeouts of open ones) and the log
/// level. Everything else in `fresh` is left for the next start. Io thread: that is
/// where the live config is read.
ConfigReload reload_config(Config& live, const Config& fresh);

}  // namespace taskpool::daemon
