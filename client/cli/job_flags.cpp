#include "job_flags.hpp"

#include <cmath>
#include <cstdlib>

namespace taskpool::cli {
std::optional<double> parse_duration(const std::string& text) {
    char* end = nullptr;
    double n = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || !std::isfinite(n) || n < 0) {
        return std::nullopt;
    }
    std::string unit(end);
    for (auto [name, seconds] :
         {std::pair{"", 1.0}, {"s", 1.0}, {"m", 60.0}, {"h", 3600.0}, {"d", 86400.0}}) {
        if (unit == name) {
            return n * seconds;
        }
    }
    return std::nullopt;
}

namespace {

/// A CLI11 option whose text `parse` turns into `out`, or says what it takes.
template <class T, class Parse>
CLI::Option* add_parsed(CLI::App& cmd, const std::string& name, std::optional<T>& out, Parse parse,
                        const std::string& help, const std::string& expected) {
    return cmd.add_option_function<std::string>(
        name,
        [&out, parse, name, expected](const std::string& text) {
            out = parse(text);
            if (!out) {
                throw CLI::ValidationError(name, expected + ", not '" + text + "'");
            }
        },
        help);
}

}  // namespace

void JobFlags::add_to(CLI::App& cmd, bool recurring) {
    cmd.add_option("--pool", pool, "thread or process (default: the task's own)")
        ->check(CLI::IsMember({"thread", "process"}));
    cmd.add_option("--priority", priority, "-100 to 100; higher starts first")
        ->check(CLI::Range(proto::min_priority, proto::max_priority));
    cmd.add_option("--timeout", timeout_s, "stop a job after this many seconds");
    cmd.add_option("--retries", retries, "further attempts of a job that fails");
    add_parsed(cmd, "--retry-backoff", retry_backoff_s, parse_duration,
               "wait this long before the second attempt, twice that before the third...",
               "a duration such as 10s, 5m or 1h");
    auto* delay = add_parsed(cmd, "--delay", delay_s, parse_duration,
                             "start the job this long from now (30s, 5m, 2h, 1d)",
                             "a duration such as 30s, 5m or 2h");
    cmd.add_option("--then", then,
                   "when the job succeeds, submit TASK with ARGS (a JSON object, default {}) "
                   "and the job's result as args.result; for a map, once every job has, "
                   "with their results as args.results")
        ->expected(1, 2);
    cmd.add_option("--queue", queue, "the named queue the job waits in (default: the task's)");
    if (recurring) {
        return;
    }
    auto* when = add_parsed(
        cmd, "--at", at,
        [](const std::string& text) -> std::optional<proto::Timestamp> {
            if (auto t = proto::parse_timestamp(text)) {
                return t;
            }
            char* end = nullptr;
            double unix_s = std::strtod(text.c_str(), &end);
            if (end == text.c_str() || *end != '\0' || !(unix_s >= 0)) {
                return std::nullopt;
            }
            return proto::Timestamp(std::chrono::milliseconds(std::llround(unix_s * 1000)));
        },
        "start the job at this time (RFC 3339 such as 2026-12-24T18:00:00Z, or Unix seconds)",
        "an RFC 3339 time (2026-12-24T18:00:00Z) or Unix seconds");
    delay->excludes(when);
    cmd.add_option("--after", after, "run once these jobs have succeeded (ids; repeat or list)")
        ->delimiter(',');
}

proto::SubmitOptions JobFlags::options() const {
    proto::SubmitOptions o;
    if (pool) {
        o.pool = proto::pool_from_string(*pool);
    }
    o.priority = priority;
    o.timeout_s = timeout_s;
    o.retries = retries;
    o.retry_backoff_s = retry_backoff_s;
    o.delay_s = delay_s;
    o.run_at = at;
    o.after = after;
    o.queue = queue;
    if (!then.empty()) {
        nlohmann::json follow_up = {{"task", then[0]}};
        if (then.size() > 1) {
            // Text that is not JSON goes as a string, which the daemon refuses
            // naming then.args.
            auto args = nlohmann::json::parse(then[1], nullptr, false);
            follow_up["args"] = args.is_discarded() ? nlohmann::json(then[1]) : args;
        }
        o.then = proto::RawJson(follow_up);
    }
    return o;
}

}  // namespace taskpool::cli
