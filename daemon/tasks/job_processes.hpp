#pragma once

#include <string_view>

namespace taskpool::daemon::tasks {

/// SIGKILLs every process that still carries the job's mark in its environment
/// (TASKPOOL_JOB_ID=<job_id>, which each command task's environment has): what a
/// command left behind outside its process group, by setsid or a double fork, does
/// not outlive its job. Reads /proc; a process of another user, or one that
/// cleared its environment, is not seen. Returns how many it killed.
int kill_job_processes(std::string_view job_id);

}  // namespace taskpool::daemon::tasks
