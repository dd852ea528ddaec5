#pragma once
// The taskpool plugin API: a shared library that includes this header registers
// C++ functions as tasks, and taskpoold loads it when its path is listed under
// `plugins` in the config. The daemon loads it once for its thread pool and each
// worker process loads it for the process pool, so a task runs on either.
//
//     #include <taskpool/task.hpp>
//
//     TASKPOOL_PLUGIN(registry) {
//         registry.add({
//             .name = "upper",
//             .description = "returns args.text in upper case",
//             .run = [](const nlohmann::json& args, const taskpool::plugin::Context&) {
//                 ...
//                 return nlohmann::json{{"text", text}};
//             },
//         });
//     }
//
// Build it as a shared library (`add_library(x MODULE ...)`, or `-shared -fPIC`)
// with the same compiler family and nlohmann_json as taskpoold: the daemon checks
// both versions when it loads the library and refuses one that does not match.

#include <functional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

/// Bumped whenever a type below changes. Version 2 added Context::progress at the
/// end of Context; the daemon still loads plugins built for version 1.
#define TASKPOOL_PLUGIN_API_VERSION 2

namespace taskpool::plugin {

enum class Pool { thread, process };

/// What a running task may consult.
struct Context {
    std::string_view job_id;
    /// Requested on cancel, timeout and shutdown while the task runs on the thread
    /// pool: a long task checks it and returns early. (On the process pool the
    /// worker is killed instead.)
    std::stop_token stop;
    /// Tells how far the job has got, e.g. `ctx.progress({{"done", i}, {"of", n}})`:
    /// the job's `progress` field and a `job.progress` event to those who watch it.
    /// Any thread may call it while the task runs; the latest value wins.
    std::function<void(const nlohmann::json& progress)> progress;
};

/// Thrown by `check` to refuse a submit (bad_request), or by `run` to fail the
/// job (task_error), with this message. Any other std::exception does the same.
class TaskError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct TaskDefinition {
    std::string name;  // letters, digits, '_', '-', '.', ':'
    std::string description;
    Pool pool = Pool::thread;  // where a job that names no pool runs
    /// Optional: checks args when the job is submitted; throws TaskError to refuse.
    std::function<void(const nlohmann::json& args)> check;
    /// Runs the task on any thread; returns the job's result.
    std::function<nlohmann::json(const nlohmann::json& args, const Context& ctx)> run;
};

/// Handed to the plugin's entry point.
class Registry {
public:
    virtual void add(TaskDefinition task) = 0;

protected:
    ~Registry() = default;
};

}  // namespace taskpool::plugin

/// Defines the plugin's entry points; the body that follows registers its tasks.
#define TASKPOOL_PLUGIN(registry)                                                        \
    extern "C" int taskpool_plugin_api_version() {                                       \
        return TASKPOOL_PLUGIN_API_VERSION;                                              \
    }                                                                                    \
    extern "C" int taskpool_plugin_json_version() {                                      \
        return NLOHMANN_JSON_VERSION_MAJOR * 10000 + NLOHMANN_JSON_VERSION_MINOR * 100 + \
               NLOHMANN_JSON_VERSION_PATCH;                                              \
    }                                                                                    \
    extern "C" void taskpool_plugin_register(::taskpool::plugin::Registry& registry)
