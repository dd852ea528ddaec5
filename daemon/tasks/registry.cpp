#include "registry.hpp"

#include "command_task.hpp"
#include "plugin_loader.hpp"

namespace taskpool::daemon::tasks {

bool TaskRegistry::add(Task task) {
    std::string name = task.name;
    auto [it, added] = tasks_.emplace(std::move(name), std::move(task));
    if (added) {
        by_name_.emplace(it->first, &it->second);
    }
    return added;
}

const Task* TaskRegistry::find(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

proto::Result<void, std::string> register_tasks(TaskRegistry& registry, const TaskSetup& setup) {
    register_builtin_tasks(registry, setup.test_tasks);
    auto environment = std::make_shared<const CommandEnvironment>(
        CommandEnvironment{setup.daemon_addr, setup.command_user});
    for (const auto& [name, spec] : setup.commands) {
        if (!registry.add(make_command_task(name, spec, environment))) {
            return "tasks." + name + ": a built-in task has that name";
        }
    }
    for (const auto& path : setup.plugins) {
        if (auto loaded = load_plugin(path, registry); !loaded) {
            return loaded.error();
        }
    }
    return {};
}

}  // namespace taskpool::daemon::tasks
