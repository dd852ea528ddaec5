#pragma once

#include <map>
#include <string>
#include <string_view>

#include "task.hpp"

namespace taskpool::daemon::tasks {

/// Tasks by name. Filled at start-up, then only read: safe to read from any thread
/// once the daemon serves.
class TaskRegistry {
public:
    /// Adds a task; a second task of the same name replaces nothing and returns false.
    bool add(Task task);
    const Task* find(std::string_view name) const;
    /// In name order.
    const std::map<std::string, Task, std::less<>>& all() const { return tasks_; }

private:
    std::map<std::string, Task, std::less<>> tasks_;
};

/// Registers echo, sleep, fib, pid and fail (PROTOCOL.md section 9), and crash
/// where `test_tasks` is on.
void register_builtin_tasks(TaskRegistry& registry, bool test_tasks);

}  // namespace taskpool::daemon::tasks
