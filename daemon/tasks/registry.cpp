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

bool TaskRegistry::set_queue(std::string_view name, std::string queue) {
    auto it = tasks_.find(name);
    if (it == tasks_.end()) {
        return false;
    }
    it->second.queue = std::move(queue);
    return true;
}

proto::Result<void, std::string> TaskRegistry::add_remote(std::string_view name,
                                                          std::string_view description) {
    if (auto it = tasks_.find(name); it != tasks_.end()) {
        if (it->second.pool != proto::PoolKind::remote) {
            // Appended, not added up: GCC 12 warns falsely (-Wrestrict) on the sum.
            std::string why = "'";
            why.append(name).append("' is a ").append(it->second.kind);
            return why.append(" task of this daemon: a remote worker cannot serve it");
        }
        if (!description.empty()) {
            it->second.description = description;
        }
        return {};
    }
    Task task;
    task.name = name;
    task.pool = proto::PoolKind::remote;
    task.kind = "remote";
    task.description = description;
    task.runs_on_thread = false;
    task.runs_on_process = false;
    // The worker checks its args: a job it cannot take fails there.
    task.check = [](const proto::RawJson&) { return proto::Result<void>(); };
    add(std::move(task));
    return {};
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
