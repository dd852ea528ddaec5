#include "worker_main.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>

#include "daemon/tasks/registry.hpp"
#include "proto/line_framer.hpp"
#include "worker_protocol.hpp"

namespace taskpool::daemon::pools {
namespace {

// Runs are written by the daemon, whose own limit on a request bounds them; this
// only guards against a broken channel.
constexpr std::size_t max_run_bytes = 1 << 30;

/// Lines from the channel, one at a time.
class ChannelReader {
public:
    explicit ChannelReader(int fd) : fd_(fd), framer_(max_run_bytes), buffer_(64 * 1024, '\0') {}

    /// The next line, valid until done() or the next call; nullopt once the
    /// channel is closed or broken.
    std::optional<std::string_view> next() {
        for (;;) {
            auto frame = framer_.next();
            if (frame.status == proto::LineFramer::Status::line) {
                return frame.line;
            }
            if (frame.status != proto::LineFramer::Status::incomplete) {
                return std::nullopt;
            }
            auto n = ::read(fd_, buffer_.data(), buffer_.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return std::nullopt;
            }
            framer_.feed(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
        }
    }

    /// The line is decoded: its buffer, however large, goes before the job runs.
    void done() { framer_.discard_taken(); }

private:
    int fd_;
    proto::LineFramer framer_;
    std::string buffer_;
};

// A line on the channel goes whole: a task's own threads may tell its progress
// while another line is being written.
std::mutex channel_writes;

bool send_line(int fd, std::string_view line) {
    std::lock_guard lock(channel_writes);
    return write_all(fd, line);
}

tasks::TaskOutcome run_one(const tasks::TaskRegistry& registry, const WorkerRun& run,
                           int channel_fd) {
    const tasks::Task* task = registry.find(run.task);
    if (task == nullptr) {
        return proto::JobError{proto::JobErrorCode::task_error,
                               "the worker has no task '" + run.task + "'"};
    }
    // Nothing asks a worker's task to stop: the daemon kills the worker instead,
    // and the group of any command it started, which it learns of here.
    std::stop_source never;
    auto on_child = [&](pid_t pgid) {
        send_line(channel_fd, encode_child(run.job_id, run.attempt, pgid));
    };
    auto progress = [&](const proto::RawJson& p) {
        send_line(channel_fd, encode_progress(run.job_id, run.attempt, p));
    };
    try {
        return task->run(run.args, tasks::TaskContext{never.get_token(), run.job_id, run.attempt,
                                                      on_child, progress});
    } catch (const std::exception& e) {
        return proto::JobError{proto::JobErrorCode::task_error,
                               std::string("the task threw: ") + e.what()};
    }
}

int exit_code(WorkerExit e) {
    return static_cast<int>(e);
}

/// A line from the daemon that does not decode says the two binaries differ: the
/// worker says why on the daemon's stderr and ends.
int bad_line(const char* what, const proto::Error& error) {
    std::fprintf(stderr, "taskpoold worker %d: the %s line from the daemon: %s\n", ::getpid(), what,
                 error.message.c_str());
    return exit_code(WorkerExit::bad_line);
}

/// Becomes `name` for good: its groups, gid and uid, and no way back (setuid
/// binaries included). False if any step fails: a worker must not run as root
/// when told not to.
bool drop_to_user(const std::string& name) {
    passwd* pw = ::getpwnam(name.c_str());
    return pw != nullptr && ::initgroups(name.c_str(), pw->pw_gid) == 0 &&
           ::setgid(pw->pw_gid) == 0 && ::setuid(pw->pw_uid) == 0 &&
           ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
}

}  // namespace

int worker_main(const WorkerOptions& options) {
    // PR_SET_PDEATHSIG is tied to the thread that spawned us: the daemon spawns
    // workers from its io thread, which lives as long as the daemon does.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != options.parent) {
        return exit_code(WorkerExit::orphaned);
    }
    ::close_range(static_cast<unsigned>(options.channel_fd) + 1, UINT_MAX, 0);
    if (options.user && !drop_to_user(*options.user)) {
        // Before it is ready: the daemon retries with back-off and says why.
        return exit_code(WorkerExit::cannot_drop_user);
    }
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTERM, SIG_IGN);  // the daemon drains; it ends us by closing the channel
    std::signal(SIGINT, SIG_IGN);   // a Ctrl-C on the daemon's terminal is the daemon's

    ChannelReader channel(options.channel_fd);
    auto setup_line = channel.next();
    if (!setup_line) {
        return exit_code(WorkerExit::done);
    }
    auto setup = decode_setup(*setup_line);
    if (!setup) {
        return bad_line("setup", setup.error());
    }
    tasks::TaskRegistry registry;
    if (auto registered = tasks::register_tasks(registry, *setup); !registered) {
        std::fprintf(stderr, "taskpoold worker %d: %s\n", ::getpid(), registered.error().c_str());
        return exit_code(WorkerExit::cannot_load_tasks);  // the daemon backs off and says so
    }
    // Ready only once every start-up allocation has succeeded.
    if (!write_all(options.channel_fd, std::string(worker_ready_line) + "\n")) {
        return exit_code(WorkerExit::done);
    }
    while (auto line = channel.next()) {
        auto run = decode_run(*line);
        channel.done();
        if (!run) {
            return bad_line("run", run.error());
        }
        auto began = std::chrono::steady_clock::now();
        auto outcome = run_one(registry, *run, options.channel_fd);
        auto ran = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - began);
        if (!send_line(options.channel_fd,
                       encode_outcome(run->job_id, run->attempt, outcome, ran))) {
            return exit_code(WorkerExit::done);
        }
    }
    return exit_code(WorkerExit::done);
}

}  // namespace taskpool::daemon::pools
