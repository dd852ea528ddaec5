#include <unistd.h>

#include <fstream>
#include <iostream>
#include <unordered_map>

#include "exit_codes.hpp"
#include "globals.hpp"
#include "job_flags.hpp"
#include "output.hpp"
#include "proto/json_parse.hpp"

namespace taskpool::cli {
namespace {

using nlohmann::json;

constexpr double block_for_room_s = 30 * 24 * 3600;

struct MapOptions {
    std::string task;
    std::string file = "-";
    JobFlags job;
    bool unordered = false;
    bool progress = false;     // draw the bar even when stderr is not a terminal
    bool no_progress = false;  // never draw it
};

/// One item per non-blank line; nullopt (after saying which line) on bad JSON.
std::optional<std::vector<json>> read_items(std::istream& in) {
    std::vector<json> items;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        auto args = proto::parse_json(line);
        if (!args) {
            std::cerr << "taskpool: line " << number << " is not JSON: " << args.error().message
                      << "\n";
            return std::nullopt;
        }
        items.push_back(std::move(*args));
    }
    return items;
}

/// Prints finished jobs, in input order or as they come.
class Printer {
public:
    Printer(std::size_t total, bool unordered, bool as_json)
        : jobs_(total), unordered_(unordered), json_(as_json) {}

    void finished(std::size_t index, proto::Job job) {
        if (unordered_) {
            print(job);
        } else {
            jobs_[index] = std::move(job);
            while (next_ < jobs_.size() && jobs_[next_]) {
                print(*jobs_[next_]);
                jobs_[next_++].reset();
            }
        }
        std::cout.flush();  // results reach a pipe as they come, not at exit
    }

private:
    void print(const proto::Job& job) const {
        if (json_) {
            print_outcome(job, true);
        } else if (job.state == proto::JobState::succeeded) {
            std::cout << human_value(job.result ? job.result->parse() : nullptr) << "\n";
        } else {
            // On stdout, so that output line N is still input line N.
            std::cout << "error: " << proto::to_string(job.error->code) << ": "
                      << job.error->message << "\n";
        }
    }

    std::vector<std::optional<proto::Job>> jobs_;
    std::size_t next_ = 0;
    bool unordered_;
    bool json_;
};

int run_map(const MapOptions& o, Globals& g) {
    std::ifstream file;
    if (o.file != "-") {
        file.open(o.file);
        if (!file) {
            std::cerr << "taskpool: cannot read " << o.file << "\n";
            return exit_usage;
        }
    }
    auto items = read_items(o.file == "-" ? std::cin : file);
    if (!items) {
        return exit_usage;
    }
    auto client = g.connect();
    if (!client) {
        return g.exit_code;
    }
    proto::SubmitOptions options = o.job.options();
    options.notify = true;
    // A queue without room for a chunk waits for room rather than failing.
    options.block_s = block_for_room_s;

    // The client sends it in chunks; events of earlier chunks queue up meanwhile.
    auto total = items->size();
    auto batch = client->map(o.task, std::move(*items), options);
    if (!batch) {
        g.fail(batch.error());
        return g.exit_code;
    }
    std::unordered_map<std::string, std::size_t> index_of;
    for (std::size_t i = 0; i < batch->jobs.size(); ++i) {
        index_of.emplace(batch->jobs[i].id, i);
    }

    bool progress = !g.json && !o.no_progress && (o.progress || ::isatty(STDERR_FILENO) != 0);
    std::optional<ProgressBar> bar;
    if (progress) {
        bar.emplace(total);
    }
    Printer printer(total, o.unordered, g.json);
    std::size_t done = 0;
    std::size_t failed = 0;
    while (done < total) {
        auto event = client->next_event();
        if (!event) {
            g.fail(event.error());
            return g.exit_code;
        }
        if (event->name != "job.finished") {
            continue;
        }
        auto job = proto::decode_job(event->body.at("job"));
        auto at = job ? index_of.find(job->id) : index_of.end();
        if (at == index_of.end()) {
            continue;
        }
        ++done;
        failed += job->state == proto::JobState::succeeded ? 0 : 1;
        printer.finished(at->second, std::move(*job));
        if (bar) {
            bar->update(done, failed);
        }
    }
    if (bar) {
        bar->finish();
    }
    return failed > 0 ? exit_job_failed : exit_done;
}

}  // namespace

void setup_map(CLI::App& app, Globals& g) {
    auto o = std::make_shared<MapOptions>();
    auto* cmd = app.add_subcommand(
        "map", "Run a task once per line of args (JSON), print the results in input order");
    cmd->add_option("task", o->task, "the task to run")->required();
    cmd->add_option("file", o->file, "a file with one JSON args a line; - or none: stdin");
    o->job.add_to(*cmd);
    cmd->add_flag("--unordered", o->unordered, "print each result as it finishes");
    cmd->add_flag("--progress", o->progress,
                  "draw a progress bar on stderr (the default when it is a terminal)");
    cmd->add_flag("--no-progress", o->no_progress, "never draw the progress bar");
    cmd->callback([o, &g] { g.exit_code = run_map(*o, g); });
}

}  // namespace taskpool::cli
