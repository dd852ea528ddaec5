#include <iostream>

#include "globals.hpp"
#include "output.hpp"

namespace taskpool::cli {
namespace {

std::string limit_text(const nlohmann::json& limit) {
    return limit.is_null() ? "-" : human_value(limit);
}

/// What holds a queue's jobs back now, for a person.
std::string queue_state(const nlohmann::json& q) {
    return q.at("paused") == true ? "paused" : q.at("throttled") == true ? "throttled" : "-";
}

void print_queue(const nlohmann::json& q, bool json) {
    if (json) {
        print_json_line(q);
        return;
    }
    std::cout << "queue " << q.at("name").get<std::string>() << ": max_concurrency "
              << limit_text(q.at("max_concurrency")) << ", rate_limit "
              << limit_text(q.at("rate_limit")) << (q.at("paused") == true ? ", paused" : "")
              << "\n";
}

/// A limit from the command line: a value the daemon checks, or "none" to lift it.
template <class T, class Parse>
void add_limit(CLI::App& cmd, const std::string& name, std::optional<std::optional<T>>& out,
               Parse parse, const std::string& help, const std::string& expected) {
    cmd.add_option_function<std::string>(
        name,
        [&out, parse, name, expected](const std::string& text) {
            if (text == "none") {
                out.emplace();
                return;
            }
            auto value = parse(text);
            if (!value) {
                throw CLI::ValidationError(name, expected + " or none, not '" + text + "'");
            }
            out = value;
        },
        help);
}

/// What `pause` or `resume` changed: a queue or a pool.
void print_paused(const nlohmann::json& reply, bool json) {
    bool queue = reply.contains("queue");
    const auto& what = reply.at(queue ? "queue" : "pool");
    if (json) {
        print_json_line(what);
        return;
    }
    std::cout << (queue ? "queue " : "pool ") << what.at("name").get<std::string>()
              << (what.at("paused") == true ? " paused\n" : " resumed\n");
}

/// `pause` or `resume`: of a queue or of a pool.
template <class Request>
void add_pause_command(CLI::App& app, Globals& g, const std::string& description) {
    auto target = std::make_shared<proto::PauseTarget>();
    auto pool = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(std::string(Request::op), description);
    auto* queue = cmd->add_option("--queue", target->queue, "a named queue");
    auto* pool_option = cmd->add_option("--pool", *pool, "thread, process or remote")
                            ->check(CLI::IsMember({"thread", "process", "remote"}));
    queue->excludes(pool_option);
    cmd->require_option(1);
    cmd->callback([target, pool, &g] {
        if (!pool->empty()) {
            target->pool = proto::pool_from_string(*pool);
        }
        auto reply = g.call(Request{*target});
        if (reply) {
            print_paused(*reply, g.json);
        }
    });
}

}  // namespace

void setup_queue(CLI::App& app, Globals& g) {
    auto* queue = app.add_subcommand("queue", "Named queues: their limits and what they hold");
    queue->require_subcommand(1);

    auto* ls = queue->add_subcommand("ls", "List the queues");
    ls->alias("list");
    ls->callback([&g] {
        auto reply = g.call(proto::QueueListRequest{});
        if (!reply) {
            return;
        }
        if (g.json) {
            print_json_line(reply->at("queues"));
            return;
        }
        std::vector<std::vector<std::string>> rows{
            {"QUEUE", "RUNNING", "QUEUED", "MAX", "RATE", "HELD"}};
        for (const auto& q : reply->at("queues")) {
            rows.push_back({q.at("name").get<std::string>(), human_value(q.at("running")),
                            human_value(q.at("queued")), limit_text(q.at("max_concurrency")),
                            limit_text(q.at("rate_limit")), queue_state(q)});
        }
        print_table(rows);
    });

    auto set = std::make_shared<proto::QueueSetRequest>();
    auto* set_cmd = queue->add_subcommand("set", "Set a queue's limits (made if new)");
    set_cmd->add_option("name", set->queue, "the queue")->required();
    add_limit(
        *set_cmd, "--max-concurrency", set->max_concurrency,
        [](const std::string& text) -> std::optional<std::int64_t> {
            char* end = nullptr;
            long long n = std::strtoll(text.c_str(), &end, 10);
            return end != text.c_str() && *end == '\0' ? std::optional<std::int64_t>(n)
                                                       : std::nullopt;
        },
        "jobs of the queue running at once (none: no limit)", "a whole number");
    add_limit(*set_cmd, "--rate-limit", set->rate_limit, proto::parse_rate_limit,
              "job starts per second, minute or hour: 10/s, 100/m, 5/h (none: no limit)",
              "N/s, N/m or N/h");
    set_cmd->callback([set, &g] {
        auto reply = g.call(*set);
        if (reply) {
            print_queue(reply->at("queue"), g.json);
        }
    });
}

void setup_pause(CLI::App& app, Globals& g) {
    add_pause_command<proto::PauseRequest>(
        app, g, "Pause a queue or a pool: it starts no job until resumed; running ones go on");
    add_pause_command<proto::ResumeRequest>(app, g, "Resume a paused queue or pool");
}

}  // namespace taskpool::cli
