#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "proto/result.hpp"

namespace taskpool::daemon::tasks {

/// Who a child runs as, resolved before it is started (a child between its start
/// and exec may not read /etc/passwd).
struct Credentials {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;
};
std::optional<Credentials> credentials_of(const std::string& user);

struct SubprocessSpec {
    std::string program;            // a path; see find_program()
    std::vector<std::string> argv;  // argv[0] included
    std::vector<std::string> env;   // NAME=value, the whole environment
    std::optional<std::string> cwd;
    std::optional<std::string> input;  // stdin; /dev/null when absent
    std::size_t max_output_bytes = 1 << 20;
    const Credentials* user = nullptr;  // drop to this user (with no_new_privs)
    /// When set, the child's fd 3 is a pipe, and what it writes there comes here
    /// as it is read.
    std::function<void(std::string_view written)> on_progress;
};

struct SubprocessResult {
    int wait_status = 0;
    std::string out;  // the first max_output_bytes of stdout
    std::string err;  // the last max_output_bytes of stderr
    bool out_truncated = false;
    bool err_truncated = false;
    bool stopped = false;  // ended by a stop request
};

/// Runs a program without a shell and waits for it, feeding `input` and capturing
/// stdout and stderr up to their bound (the rest is read and dropped, so the
/// child never blocks on a full pipe).
///
/// The child gets fds 0-2 only (and 3 for its progress), its own process group, the default signal
/// dispositions, PR_SET_PDEATHSIG (set in the child before exec), and only `env`. `on_start(pgid)`
/// is called as soon as the group exists. A stop request SIGKILLs the whole group; so does the
/// child's exit, so nothing it left in the background outlives it. The calling thread must stay
/// alive until this returns (PDEATHSIG follows the thread that started the child).
///
/// An error (a message) when the program could not be started.
proto::Result<SubprocessResult, std::string> run_subprocess(
    const SubprocessSpec& spec, const std::stop_token& stop,
    const std::function<void(pid_t pgid)>& on_start);

/// The path of `name` along `path` (a PATH value); a name with a '/' is returned
/// as it is.
std::optional<std::string> find_program(const std::string& name, const std::string& path);

/// "killed by signal 11 (SIGSEGV)" or "exited with status 3", from a wait status.
std::string describe_exit(int wait_status);

}  // namespace taskpool::daemon::tasks
