#pragma once

#include <cstddef>

namespace taskpool::daemon::net {

/// Raises the soft limit on open files (RLIMIT_NOFILE) to `wanted`, as far as the
/// hard limit allows: the usual soft limit of 1024 is less than the default
/// limits.max_connections plus the daemon's own descriptors. Logs a warning when
/// the hard limit is lower than `wanted`.
void raise_open_file_limit(std::size_t wanted);

}  // namespace taskpool::daemon::net
