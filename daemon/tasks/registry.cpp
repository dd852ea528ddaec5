#include "registry.hpp"

namespace taskpool::daemon::tasks {

bool TaskRegistry::add(Task task) {
    std::string name = task.name;
    return tasks_.emplace(std::move(name), std::move(task)).second;
}

const Task* TaskRegistry::find(std::string_view name) const {
    auto it = tasks_.find(name);
    return it == tasks_.end() ? nullptr : &it->second;
}

}  // namespace taskpool::daemon::tasks
