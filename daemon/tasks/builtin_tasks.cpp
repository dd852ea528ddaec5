// The built-in tasks of PROTOCOL.md section 9. Each one honours a stop request, so
// cancel and timeout free its thread promptly.
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>

#include "proto/json_dom.hpp"
#include "registry.hpp"

namespace taskpool::daemon::tasks {
namespace {

using nlohmann::json;
using proto::JobError;
using proto::JobErrorCode;
using proto::Result;

constexpr std::int64_t max_fib = 45;
constexpr double max_sleep_s = 366.0 * 24 * 3600;

JobError stopped() {
    return {JobErrorCode::cancelled, "stopped before it finished"};
}

using proto::RawJson;

/// Checks that args is an object (or absent) whose fields `read` accepts, reading
/// its text in place.
template <class Read>
Result<void> check_object(const RawJson& args, Read&& read) {
    auto root = proto::parse_dom(args.is_null() ? std::string_view("{}") : args.text());
    simdjson::dom::object object;
    if (!root || root->get(object)) {
        return proto::bad_request("field 'args' must be an object");
    }
    proto::DomReader r(object, "args.");
    read(r);
    return r.finish();
}

/// A check for a task that takes no args.
Result<void> no_fields(const RawJson& args) {
    return check_object(args, [](proto::DomReader&) {});
}

Task echo_task() {
    Task t;
    t.name = "echo";
    t.description = "returns its args";
    t.check = [](const RawJson&) { return Result<void>{}; };
    t.run = [](const RawJson& args, const TaskContext&) -> TaskOutcome { return args; };
    return t;
}

Task sleep_task() {
    Task t;
    t.name = "sleep";
    t.description = "sleeps for args.seconds; stops early when cancelled";
    t.check = [](const RawJson& args) {
        return check_object(args, [](proto::DomReader& r) {
            std::optional<double> s;
            r.number("seconds", s, 0, max_sleep_s);
            if (!s) {
                r.fail("seconds", "is required");
            }
        });
    };
    t.run = [](const RawJson& raw_args, const TaskContext& ctx) -> TaskOutcome {
        json args = raw_args.parse();
        double seconds = args.at("seconds").get<double>();
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        bool stopped_early = cv.wait_for(lock, ctx.stop, std::chrono::duration<double>(seconds),
                                         [] { return false; });
        (void)stopped_early;  // the predicate is never true: only a stop ends the wait early
        if (ctx.stop.stop_requested()) {
            return stopped();
        }
        return RawJson(json{{"slept", args.at("seconds")}});
    };
    return t;
}

/// Naive recursion on purpose (a CPU burner); large subtrees check for a stop.
std::uint64_t fib(std::int64_t n, const std::stop_token& stop) {
    if (n < 2) {
        return static_cast<std::uint64_t>(n);
    }
    if (n >= 20 && stop.stop_requested()) {
        return 0;
    }
    return fib(n - 1, stop) + fib(n - 2, stop);
}

Task fib_task() {
    Task t;
    t.name = "fib";
    t.pool = proto::PoolKind::process;
    t.description = "computes fib(args.n) by naive recursion, n from 0 to 45 (burns CPU)";
    t.check = [](const RawJson& args) {
        return check_object(args, [](proto::DomReader& r) {
            std::optional<std::int64_t> n;
            r.integer("n", n, 0, max_fib);
            if (!n) {
                r.fail("n", "is required");
            }
        });
    };
    t.run = [](const RawJson& args, const TaskContext& ctx) -> TaskOutcome {
        auto n = args.parse().at("n").get<std::int64_t>();
        auto value = fib(n, ctx.stop);
        if (ctx.stop.stop_requested()) {
            return stopped();
        }
        return RawJson(json{{"n", n}, {"value", value}});
    };
    return t;
}

Task pid_task() {
    Task t;
    t.name = "pid";
    t.pool = proto::PoolKind::process;
    t.description = "reports the pid, ppid and thread id of whatever ran it";
    t.check = no_fields;
    t.run = [](const RawJson&, const TaskContext&) -> TaskOutcome {
        return RawJson(json{{"pid", ::getpid()},
                            {"ppid", ::getppid()},
                            {"thread", static_cast<long>(::syscall(SYS_gettid))}});
    };
    return t;
}

Task fail_task() {
    Task t;
    t.name = "fail";
    t.description = "always fails with task_error and args.message";
    t.check = [](const RawJson& args) {
        return check_object(args, [](proto::DomReader& r) {
            std::optional<std::string> message;
            r.text("message", message);
        });
    };
    t.run = [](const RawJson& raw_args, const TaskContext&) -> TaskOutcome {
        json args = raw_args.parse();
        std::string message = "failed on purpose";
        if (args.is_object() && args.contains("message")) {
            message = args.at("message").get<std::string>();
        }
        return JobError{JobErrorCode::task_error, message};
    };
    return t;
}

Task crash_task() {
    Task t;
    t.name = "crash";
    t.pool = proto::PoolKind::process;
    t.description = "kills its own worker with SIGSEGV (a test task)";
    t.runs_on_thread = false;  // it would take the daemon with it
    t.check = no_fields;
    t.run = [](const RawJson&, const TaskContext&) -> TaskOutcome {
        // Default disposition first: a handler (a sanitizer's, say) must not turn
        // the crash into something else.
        std::signal(SIGSEGV, SIG_DFL);
        std::raise(SIGSEGV);
        return JobError{JobErrorCode::task_error, "SIGSEGV did not kill the worker"};
    };
    return t;
}

}  // namespace

void register_builtin_tasks(TaskRegistry& registry, bool test_tasks) {
    registry.add(echo_task());
    registry.add(sleep_task());
    registry.add(fib_task());
    registry.add(pid_task());
    registry.add(fail_task());
    if (test_tasks) {
        registry.add(crash_task());
    }
}

}  // namespace taskpool::daemon::tasks
