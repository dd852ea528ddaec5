#pragma once

#include <string_view>

namespace taskpool::daemon::tasks {

/// SIGKILLs every process that still carries the attempt's mark in its environment
/// (TASKPOOL_JOB_ID=<job_id> and TASKPOOL_ATTEMPT=<attempt>, which each command
/// task's environment has): what a command left behind outside its process group,
/// by setsid or a double fork, does not outlive its attempt, and a retry running
/// meanwhile is not touched. Reads /proc; a process of another user, or one that
/// cleared its environment, is not seen. Returns how many it killed.
int kill_job_processes(std::string_view job_id, int attempt);

}  // namespace taskpool::daemon::tasks
