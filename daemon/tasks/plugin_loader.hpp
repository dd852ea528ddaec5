#pragma once

#include <string>

#include "proto/result.hpp"
#include "registry.hpp"

namespace taskpool::daemon::tasks {

/// Loads the shared library at `path` (dlopen) and adds the tasks it registers
/// through taskpool/task.hpp. The library stays loaded for the life of the
/// process. An error says what failed: the load, a missing entry point, a version
/// mismatch, or a task it tried to register.
proto::Result<void, std::string> load_plugin(const std::string& path, TaskRegistry& registry);

}  // namespace taskpool::daemon::tasks
