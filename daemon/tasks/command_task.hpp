#pragma once

#include <memory>
#include <optional>
#include <string>

#include "command_spec.hpp"
#include "subprocess.hpp"
#include "task.hpp"

namespace taskpool::daemon::tasks {

/// What every command task of one process shares.
struct CommandEnvironment {
    std::string daemon_addr;            // TASKPOOL_ADDR
    std::optional<Credentials> run_as;  // drop to this user first (a root daemon)
};

/// The task that runs `spec` (DESIGN.md section 4): argv from the templates, no
/// shell; the result `{"exit_code", "stdout", "stderr", "truncated"}` or the JSON
/// its stdout holds; a non-zero exit fails with exit_status and the tail of stderr.
Task make_command_task(const std::string& name, const CommandSpec& spec,
                       std::shared_ptr<const CommandEnvironment> environment);

}  // namespace taskpool::daemon::tasks
