// An example plugin: three tasks, built with the daemon and loaded by the tests.
// Load it with `"plugins": ["/path/to/libtaskpool_example_plugin.so"]`.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>

#include <taskpool/task.hpp>

namespace {

std::string text_arg(const nlohmann::json& args) {
    if (!args.is_object() || !args.contains("text") || !args["text"].is_string()) {
        throw taskpool::plugin::TaskError("field 'args.text' must be a string");
    }
    return args["text"].get<std::string>();
}

}  // namespace

TASKPOOL_PLUGIN(registry) {
    registry.add({
        .name = "upper",
        .description = "returns args.text in upper case, and the pid that ran it",
        .check = [](const nlohmann::json& args) { text_arg(args); },
        .run =
            [](const nlohmann::json& args, const taskpool::plugin::Context&) {
                std::string text = text_arg(args);
                std::transform(text.begin(), text.end(), text.begin(),
                               [](unsigned char c) { return std::toupper(c); });
                return nlohmann::json{{"text", text}, {"pid", ::getpid()}};
            },
    });
    registry.add({
        .name = "count",
        .description = "counts to args.n, telling its progress at each step; returns n",
        .check =
            [](const nlohmann::json& args) {
                if (!args.is_object() || !args.contains("n") || !args["n"].is_number_unsigned()) {
                    throw taskpool::plugin::TaskError("field 'args.n' must be a whole number");
                }
            },
        .run =
            [](const nlohmann::json& args, const taskpool::plugin::Context& ctx) {
                auto n = args["n"].get<std::uint64_t>();
                for (std::uint64_t i = 1; i <= n; ++i) {
                    ctx.progress({{"done", i}, {"of", n}});
                }
                return nlohmann::json(n);
            },
    });
    taskpool::plugin::TaskDefinition refuse;
    refuse.name = "refuse";
    refuse.description = "always fails with task_error, raised by the plugin";
    refuse.pool = taskpool::plugin::Pool::process;
    refuse.run = [](const nlohmann::json&, const taskpool::plugin::Context&) -> nlohmann::json {
        throw taskpool::plugin::TaskError("refused by the example plugin");
    };
    registry.add(std::move(refuse));
}
