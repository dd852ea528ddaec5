#include <cmath>
#include <iostream>
#include <limits>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "job_flags.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

struct SubmitOptions {
    std::string task;
    std::string args = "null";
    JobFlags job;
    std::optional<std::string> key;
    std::optional<double> wait_s;
    bool detach = false;
};

int run_submit(const SubmitOptions& o, Globals& g) {
    auto args = nlohmann::json::parse(o.args, nullptr, false);
    if (args.is_discarded()) {
        std::cerr << "taskpool: ARGS is not valid JSON: " << o.args << "\n";
        return exit_usage;
    }
    auto client = g.connect();
    if (!client) {
        return g.exit_code;
    }
    proto::SubmitOptions options = o.job.options();
    if (!o.detach) {
        options.wait = o.wait_s.value_or(std::numeric_limits<double>::infinity());
    }
    auto job = client->submit(o.task, std::move(args), options, o.key);
    if (!job) {
        g.fail(job.error());
        return g.exit_code;
    }
    if (o.detach) {
        if (g.json) {
            print_outcome(*job, true);
        } else {
            std::cout << job->id << "\n";
        }
        return exit_done;
    }
    print_outcome(*job, g.json);
    return exit_code_for(*job);
}

}  // namespace

void setup_submit(CLI::App& app, Globals& g) {
    auto o = std::make_shared<SubmitOptions>();
    auto* cmd = app.add_subcommand("submit", "Submit a job, wait for it and print its result");
    cmd->add_option("task", o->task, "the task to run")->required();
    cmd->add_option("args", o->args, "the job's args as JSON, e.g. '{\"n\":30}'");
    o->job.add_to(*cmd);
    cmd->add_option("--key", o->key, "idempotency key: a second submit returns the first job");
    cmd->add_option("--wait", o->wait_s, "wait at most this many seconds (exit 4 if unfinished)");
    cmd->add_flag("--detach,-d", o->detach, "print the job id and return without waiting");
    cmd->callback([o, &g] { g.exit_code = run_submit(*o, g); });
}

}  // namespace taskpool::cli
