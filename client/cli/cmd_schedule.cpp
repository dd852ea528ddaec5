#include <iostream>

#include "globals.hpp"
#include "job_flags.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

struct ScheduleFlags {
    proto::ScheduleSpec spec;
    std::string args = "null";
    JobFlags job;
    std::string catch_up = "one";
};

/// When a schedule fires, for a person: its cron, or "every 30s".
std::string when_text(const proto::ScheduleInfo& s) {
    if (s.spec.cron) {
        return *s.spec.cron;
    }
    return "every " + human_value(proto::schedule_fields(s.spec)["every_s"]) + "s";
}

std::string time_text(const std::optional<proto::Timestamp>& t) {
    return t ? proto::format_timestamp(*t) : "-";
}

void print_schedule(const proto::ScheduleInfo& s, bool json) {
    if (json) {
        print_json_line(proto::schedule_json(s));
        return;
    }
    std::cout << "schedule " << s.spec.name << ": " << s.spec.task << " " << when_text(s)
              << (s.spec.paused ? ", paused\n" : ", next at " + time_text(s.next_at) + "\n");
}

void setup_add(CLI::App& schedule, Globals& g) {
    auto f = std::make_shared<ScheduleFlags>();
    auto* add = schedule.add_subcommand(
        "add", "Set a schedule: a job of TASK at each time it names (replaces one of that name)");
    add->alias("set");
    add->add_option("name", f->spec.name, "the schedule's name")->required();
    add->add_option("task", f->spec.task, "the task of its jobs")->required();
    add->add_option("args", f->args, "its jobs' args as JSON, e.g. '{\"n\":30}'");
    auto* cron = add->add_option("--cron", f->spec.cron,
                                 "five fields in UTC: minute hour day-of-month month "
                                 "day-of-week, e.g. '0 3 * * *' (03:00 each day)");
    auto* every = add->add_option_function<std::string>(
        "--every",
        [f](const std::string& text) {
            f->spec.every_s = parse_duration(text);
            if (!f->spec.every_s) {
                throw CLI::ValidationError("--every",
                                           "a duration such as 30s, 5m or 1h, not '" + text + "'");
            }
        },
        "fire this often, the first time one period from now (30s, 5m, 1h, 1d)");
    cron->excludes(every);
    add->add_option("--catch-up", f->catch_up,
                    "after the daemon was down: one (fire once for what it missed) or none")
        ->check(CLI::IsMember({"one", "none"}));
    add->add_flag("--paused", f->spec.paused, "keep it, but fire nothing until set again");
    f->job.add_to(*add, true);
    add->callback([f, &g] {
        if (!f->spec.cron && !f->spec.every_s) {
            std::cerr << "taskpool: give --cron or --every\n";
            g.exit_code = 2;
            return;
        }
        auto args = nlohmann::json::parse(f->args, nullptr, false);
        if (args.is_discarded()) {
            std::cerr << "taskpool: ARGS is not valid JSON: " << f->args << "\n";
            g.exit_code = 2;
            return;
        }
        auto spec = f->spec;
        spec.args = proto::RawJson(args);
        spec.catch_up = f->catch_up == "none" ? proto::CatchUp::none : proto::CatchUp::one;
        if (auto options = proto::options_json(f->job.options()); options.text() != "{}") {
            spec.options = std::move(options);
        }
        auto client = g.connect();
        if (!client) {
            return;
        }
        auto set = client->set_schedule(std::move(spec));
        if (!set) {
            g.fail(set.error());
            return;
        }
        print_schedule(*set, g.json);
    });
}

}  // namespace

void setup_schedule(CLI::App& app, Globals& g) {
    auto* schedule =
        app.add_subcommand("schedule", "Recurring schedules: a job at each time a cron names");
    schedule->require_subcommand(1);
    setup_add(*schedule, g);

    auto name = std::make_shared<std::string>();
    auto* rm = schedule->add_subcommand("rm", "Delete a schedule: it fires no more");
    rm->alias("del");
    rm->add_option("name", *name, "the schedule")->required();
    rm->callback([name, &g] {
        if (!g.call(proto::ScheduleDelRequest{*name})) {
            return;
        }
        if (g.json) {
            print_json_line({{"name", *name}, {"deleted", true}});
        } else {
            std::cout << "schedule " << *name << " deleted\n";
        }
    });

    auto* ls = schedule->add_subcommand("ls", "List the schedules");
    ls->alias("list");
    ls->callback([&g] {
        auto client = g.connect();
        if (!client) {
            return;
        }
        auto schedules = client->schedules();
        if (!schedules) {
            g.fail(schedules.error());
            return;
        }
        if (g.json) {
            auto all = nlohmann::json::array();
            for (const auto& s : *schedules) {
                all.push_back(proto::schedule_json(s));
            }
            print_json_line(all);
            return;
        }
        std::vector<std::vector<std::string>> rows{
            {"SCHEDULE", "TASK", "WHEN", "NEXT", "LAST", "LAST JOB"}};
        for (const auto& s : *schedules) {
            rows.push_back({s.spec.name + (s.from_config ? " (config)" : ""), s.spec.task,
                            when_text(s), s.spec.paused ? "paused" : time_text(s.next_at),
                            time_text(s.last_at), s.last_job.value_or("-")});
        }
        print_table(rows);
    });
}

}  // namespace taskpool::cli
