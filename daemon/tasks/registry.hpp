#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "command_spec.hpp"
#include "proto/result.hpp"
#include "subprocess.hpp"
#include "task.hpp"

namespace taskpool::daemon::tasks {

/// Tasks by name. Filled at start-up; afterwards only remote tasks are added, on
/// the io thread, which alone looks tasks up by name (the pools are handed the
/// Task, whose address never changes).
class TaskRegistry {
public:
    TaskRegistry() = default;
    TaskRegistry(const TaskRegistry&) = delete;  // by_name_ views its own keys
    TaskRegistry& operator=(const TaskRegistry&) = delete;

    /// Adds a task; a second task of the same name replaces nothing and returns false.
    bool add(Task task);
    const Task* find(std::string_view name) const;
    /// Knows `name` as a task of remote workers (a registration, the config, the
    /// journal), or says why not: a local task has that name.
    proto::Result<void, std::string> add_remote(std::string_view name,
                                                std::string_view description);
    /// The named queue of the task's jobs that name none (PROTOCOL.md 12); false
    /// if there is no such task.
    bool set_queue(std::string_view name, std::string queue);
    /// In name order.
    const std::map<std::string, Task, std::less<>>& all() const { return tasks_; }

private:
    std::map<std::string, Task, std::less<>> tasks_;
    // Every submit looks its task up: by hash here, while the map keeps name order.
    std::unordered_map<std::string_view, const Task*> by_name_;  // views into tasks_' keys
};

/// Everything that decides which tasks a process has. The daemon and each of its
/// workers build their registries from the same setup, so a task runs the same
/// on both pools.
struct TaskSetup {
    bool test_tasks = false;                      // adds crash
    std::map<std::string, CommandSpec> commands;  // config key `tasks`
    std::vector<std::string> plugins;             // config key `plugins`
    std::string daemon_addr;                      // TASKPOOL_ADDR of command tasks
    std::optional<Credentials> command_user;      // who commands run as, if not us
};

/// Registers the built-in tasks, then the command tasks, then each plugin's. An
/// error is one line that names the task or the plugin at fault.
proto::Result<void, std::string> register_tasks(TaskRegistry& registry, const TaskSetup& setup);

/// Registers echo, sleep, fib, pid and fail (PROTOCOL.md section 9), and crash
/// where `test_tasks` is on.
void register_builtin_tasks(TaskRegistry& registry, bool test_tasks);

}  // namespace taskpool::daemon::tasks
