// The built-in tasks of PROTOCOL.md section 9. Each one honours a stop request, so
// cancel and timeout free its thread promptly.
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <mutex>

#include "proto/json_fields.hpp"
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

/// Checks that args is an object (or absent) whose fields `read` accepts.
template <class Read>
Result<void> check_object(const json& args, Read&& read) {
    static const json empty = json::object();
    if (!args.is_null() && !args.is_object()) {
        return proto::bad_request("field 'args' must be an object");
    }
    proto::FieldReader r(args.is_null() ? empty : args, "args.");
    read(r);
    return r.finish();
}

Task echo_task() {
    Task t;
    t.name = "echo";
    t.description = "returns its args";
    t.check = [](const json&) { return Result<void>{}; };
    t.run = [](const json& args, const TaskContext&) -> TaskOutcome { return args; };
    return t;
}

Task sleep_task() {
    Task t;
    t.name = "sleep";
    t.description = "sleeps for args.seconds; stops early when cancelled";
    t.check = [](const json& args) {
        return check_object(args, [](proto::FieldReader& r) {
            std::optional<double> s;
            r.number("seconds", s, 0, max_sleep_s);
            if (!s) {
                r.fail("seconds", "is required");
            }
        });
    };
    t.run = [](const json& args, const TaskContext& ctx) -> TaskOutcome {
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
        return json{{"slept", args.at("seconds")}};
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
    t.check = [](const json& args) {
        return check_object(args, [](proto::FieldReader& r) {
            std::optional<std::int64_t> n;
            r.integer("n", n, 0, max_fib);
            if (!n) {
                r.fail("n", "is required");
            }
        });
    };
    t.run = [](const json& args, const TaskContext& ctx) -> TaskOutcome {
        auto n = args.at("n").get<std::int64_t>();
        auto value = fib(n, ctx.stop);
        if (ctx.stop.stop_requested()) {
            return stopped();
        }
        return json{{"n", n}, {"value", value}};
    };
    return t;
}

Task pid_task() {
    Task t;
    t.name = "pid";
    t.pool = proto::PoolKind::process;
    t.description = "reports the pid, ppid and thread id of whatever ran it";
    t.check = [](const json& args) { return check_object(args, [](proto::FieldReader&) {}); };
    t.run = [](const json&, const TaskContext&) -> TaskOutcome {
        return json{{"pid", ::getpid()},
                    {"ppid", ::getppid()},
                    {"thread", static_cast<long>(::syscall(SYS_gettid))}};
    };
    return t;
}

Task fail_task() {
    Task t;
    t.name = "fail";
    t.description = "always fails with task_error and args.message";
    t.check = [](const json& args) {
        return check_object(args, [](proto::FieldReader& r) {
            std::optional<std::string> message;
            r.text("message", message);
        });
    };
    t.run = [](const json& args, const TaskContext&) -> TaskOutcome {
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
    t.check = [](const json& args) { return check_object(args, [](proto::FieldReader&) {}); };
    t.run = [](const json&, const TaskContext&) -> TaskOutcome {
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
