#include "plugin_loader.hpp"

#include <dlfcn.h>

#include <taskpool/task.hpp>

#include "command_spec.hpp"

namespace taskpool::daemon::tasks {
namespace {

constexpr int json_version = NLOHMANN_JSON_VERSION_MAJOR * 10000 +
                             NLOHMANN_JSON_VERSION_MINOR * 100 + NLOHMANN_JSON_VERSION_PATCH;

std::string version_text(int v) {
    return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
           std::to_string(v % 100);
}

Task to_task(plugin::TaskDefinition def) {
    Task t;
    t.name = std::move(def.name);
    t.kind = "plugin";
    t.pool = def.pool == plugin::Pool::thread ? proto::PoolKind::thread : proto::PoolKind::process;
    t.description = std::move(def.description);
    // A plugin reads nlohmann trees: the args become one where it is called.
    t.check = [check = std::move(def.check)](const proto::RawJson& args) -> proto::Result<void> {
        if (!check) {
            return {};
        }
        try {
            check(args.parse());
            return {};
        } catch (const std::exception& e) {
            return proto::bad_request(e.what());
        }
    };
    t.run = [run = std::move(def.run)](const proto::RawJson& args,
                                       const TaskContext& ctx) -> TaskOutcome {
        try {
            plugin::Context context{ctx.job_id, ctx.stop, [&ctx](const nlohmann::json& progress) {
                                        ctx.progress(proto::RawJson(progress));
                                    }};
            return proto::RawJson(run(args.parse(), context));
        } catch (const std::exception& e) {
            return proto::JobError{proto::JobErrorCode::task_error, e.what()};
        } catch (...) {
            return proto::JobError{proto::JobErrorCode::task_error,
                                   "the plugin task threw something that is not an exception"};
        }
    };
    return t;
}

/// Collects what the plugin registers; the first problem wins.
class Collector final : public plugin::Registry {
public:
    explicit Collector(TaskRegistry& registry) : registry_(registry) {}

    void add(plugin::TaskDefinition def) override {
        if (!error_.empty()) {
            return;
        }
        if (!valid_task_name(def.name)) {
            error_ =
                "task name '" + def.name + "' may only have letters, digits, '_', '-', '.' and ':'";
        } else if (!def.run) {
            error_ = "task '" + def.name + "' has no run function";
        } else if (std::string name = def.name; !registry_.add(to_task(std::move(def)))) {
            error_ = "task '" + name + "' is already defined";
        }
    }

    const std::string& error() const { return error_; }

private:
    TaskRegistry& registry_;
    std::string error_;
};

}  // namespace

proto::Result<void, std::string> load_plugin(const std::string& path, TaskRegistry& registry) {
    std::string where = "plugin " + path + ": ";
    // Never closed: its tasks' code lives in it.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        return where + ::dlerror();
    }
    auto api_version = reinterpret_cast<int (*)()>(::dlsym(handle, "taskpool_plugin_api_version"));
    auto built_with = reinterpret_cast<int (*)()>(::dlsym(handle, "taskpool_plugin_json_version"));
    auto register_tasks =
        reinterpret_cast<void (*)(plugin::Registry&)>(::dlsym(handle, "taskpool_plugin_register"));
    if (api_version == nullptr || built_with == nullptr || register_tasks == nullptr) {
        return where + "not a taskpool plugin (no TASKPOOL_PLUGIN entry point)";
    }
    // Each version only added to the end of the types, so older plugins still load.
    if (int v = api_version(); v < 1 || v > TASKPOOL_PLUGIN_API_VERSION) {
        return where + "built for plugin API " + std::to_string(v) +
               "; this taskpoold has API 1 to " + std::to_string(TASKPOOL_PLUGIN_API_VERSION);
    }
    if (built_with() != json_version) {
        return where + "built with nlohmann_json " + version_text(built_with()) +
               "; this taskpoold has " + version_text(json_version);
    }
    Collector collector(registry);
    try {
        register_tasks(collector);
    } catch (const std::exception& e) {
        return where + "registration threw: " + e.what();
    }
    if (!collector.error().empty()) {
        return where + collector.error();
    }
    return {};
}

}  // namespace taskpool::daemon::tasks
