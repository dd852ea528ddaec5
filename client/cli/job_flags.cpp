#include "job_flags.hpp"

namespace taskpool::cli {

void JobFlags::add_to(CLI::App& cmd) {
    cmd.add_option("--pool", pool, "thread or process (default: the task's own)")
        ->check(CLI::IsMember({"thread", "process"}));
    cmd.add_option("--priority", priority, "-100 to 100; higher starts first")
        ->check(CLI::Range(proto::min_priority, proto::max_priority));
    cmd.add_option("--timeout", timeout_s, "stop a job after this many seconds");
    cmd.add_option("--retries", retries, "further attempts of a job that fails");
}

proto::SubmitOptions JobFlags::options() const {
    proto::SubmitOptions o;
    if (pool) {
        o.pool = proto::pool_from_string(*pool);
    }
    o.priority = priority;
    o.timeout_s = timeout_s;
    o.retries = retries;
    return o;
}

}  // namespace taskpool::cli
