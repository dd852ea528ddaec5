#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {

void setup_resize(CLI::App& app, Globals& g) {
    struct Options {
        std::string pool;
        int size = 0;
    };
    auto o = std::make_shared<Options>();
    auto* cmd =
        app.add_subcommand("resize", "Grow or shrink a pool; shrinking never stops a running job");
    cmd->add_option("pool", o->pool, "thread or process")
        ->required()
        ->check(CLI::IsMember({"thread", "process"}));
    cmd->add_option("size", o->size, "the new number of workers")
        ->required()
        ->check(whole_number(0, proto::ResizeRequest::max_size));
    cmd->callback([o, &g] {
        auto reply = g.call(proto::ResizeRequest{*proto::pool_from_string(o->pool), o->size});
        if (!reply) {
            return;
        }
        if (g.json) {
            print_json_line(reply->at("pools"));
        } else {
            std::cout << "the " << o->pool << " pool now has " << o->size << " workers\n";
        }
    });
}

}  // namespace taskpool::cli
