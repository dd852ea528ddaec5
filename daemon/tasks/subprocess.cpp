#include "subprocess.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstring>
#include <memory>

#include "daemon/base/unique_fd.hpp"

namespace taskpool::daemon::tasks {
namespace {

// After the child exits, how long to keep reading what its group wrote: only a
// process that left the group (setsid) can hold a pipe open past this.
constexpr auto drain_grace = std::chrono::milliseconds(500);

using Fd = base::UniqueFd;

// The descriptor a child writes its progress lines on.
constexpr int progress_fd = 3;

/// A descriptor above progress_fd, so that the child's dup2() onto 0-3 never
/// meets one of its pipes (a daemon may start with 0-2 closed).
int above_child_fds(int fd) {
    if (fd < 0 || fd > progress_fd) {
        return fd;
    }
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, progress_fd + 1);
    ::close(fd);
    return moved;
}

/// A pipe with both ends close-on-exec and above the child's descriptors.
bool make_pipe(Fd& read_end, Fd& write_end) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return false;
    }
    for (int& fd : fds) {
        fd = above_child_fds(fd);
    }
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
    return read_end && write_end;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    out.reserve(strings.size() + 1);
    for (auto& s : strings) {
        out.push_back(s.data());
    }
    out.push_back(nullptr);
    return out;
}

/// What a child that failed before exec writes to its report pipe.
enum StartStage : int { set_user, enter_cwd, exec_program, set_fds };
struct StartFailure {
    int stage;  // a StartStage, which indexes stage_names
    int error;  // errno
};
constexpr std::array<const char*, 4> stage_names = {"cannot set its user", "cannot enter cwd",
                                                    "cannot run the program",
                                                    "cannot set up its descriptors"};

/// In the child: tells the parent which step failed, and why.
[[noreturn]] void fail_start(int report, int stage) {
    StartFailure f{stage, errno};
    (void)!::write(report, &f, sizeof f);
    ::_exit(127);
}

/// The child between its start and exec: async-signal-safe calls only, no
/// allocation, nothing written that the daemon reads (it shares its memory).
[[noreturn]] void exec_child(const SubprocessSpec& spec, pid_t parent, int in, int out, int err,
                             int progress, int report, char* const* argv, char* const* envp) {
    ::setpgid(0, 0);
    // A new process starts without it: it must be set here, then the parent checked.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
        ::_exit(127);
    }
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0 ||
        (progress >= 0 && ::dup2(progress, progress_fd) < 0)) {
        fail_start(report, set_fds);
    }
    // Everything above those closes at exec, the report pipe included.
    int first_closed = progress >= 0 ? progress_fd + 1 : progress_fd;
    if (::close_range(static_cast<unsigned>(first_closed), ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = first_closed; fd < 65536; ++fd) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    if (spec.user != nullptr) {
        const Credentials& c = *spec.user;
        // Raw syscalls: glibc's wrappers coordinate all threads, and this child has
        // one thread whatever the parent had.
        if (::syscall(SYS_setgroups, c.groups.size(), c.groups.data()) != 0 ||
            ::syscall(SYS_setresgid, c.gid, c.gid, c.gid) != 0 ||
            ::syscall(SYS_setresuid, c.uid, c.uid, c.uid) != 0 ||
            ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
            fail_start(report, set_user);
        }
    }
    if (spec.cwd && ::chdir(spec.cwd->c_str()) != 0) {
        fail_start(report, enter_cwd);
    }
    // The daemon ignores SIGPIPE and handles others; the program starts clean.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        ::sigaction(sig, &dfl, nullptr);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(spec.program.c_str(), argv, envp);
    fail_start(report, exec_program);
}

/// What the child is started with: clone() passes it one pointer.
struct ChildStart {
    const SubprocessSpec* spec;
    pid_t parent;
    int in, out, err, progress, report;
    char* const* argv;
    char* const* envp;
};

int child_main(void* start) {
    const auto& s = *static_cast<const ChildStart*>(start);
    exec_child(*s.spec, s.parent, s.in, s.out, s.err, s.progress, s.report, s.argv, s.envp);
}

/// Starts the child as posix_spawn() does: with CLONE_VM | CLONE_VFORK it borrows
/// the daemon's memory on a stack of its own until it execs, and the calling
/// thread waits meanwhile. fork() would copy the page tables of the whole daemon
/// and make every page it then writes fault and be copied, which took several
/// milliseconds per command and slowed every other thread of the daemon. The
/// sanitizers' runtimes cannot follow a child that shares the parent's memory,
/// so their builds fork.
pid_t start_child(ChildStart& start) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    pid_t pid = ::fork();
    if (pid == 0) {
        child_main(&start);
    }
    return pid;
#else
    // exec_child() calls a few system calls and keeps no large locals.
    constexpr std::size_t stack_size = 64 * 1024;
    auto stack = std::make_unique_for_overwrite<char[]>(stack_size);
    return ::clone(child_main, stack.get() + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
#endif
}

/// Reads what is there; false at EOF or on an error.
bool read_into(int fd, std::string& buffer) {
    char chunk[65536];
    for (;;) {
        auto n = ::read(fd, chunk, sizeof chunk);
        if (n > 0) {
            buffer.append(chunk, static_cast<std::size_t>(n));
            return true;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n < 0 && errno == EAGAIN;
    }
}

/// Keeps the head of a stream: bytes past the bound are counted out.
void keep_head(std::string& kept, const std::string& chunk, std::size_t bound, bool& truncated) {
    std::size_t room = bound - std::min(bound, kept.size());
    kept.append(chunk, 0, std::min(chunk.size(), room));
    truncated = truncated || chunk.size() > room;
}

/// Keeps the tail of a stream, trimming in batches to stay linear.
void keep_tail(std::string& kept, const std::string& chunk, std::size_t bound, bool& truncated) {
    kept += chunk;
    if (kept.size() > 2 * bound) {
        kept.erase(0, kept.size() - bound);
        truncated = true;
    }
}

}  // namespace

std::optional<Credentials> credentials_of(const std::string& user) {
    passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
        return std::nullopt;
    }
    Credentials c{pw->pw_uid, pw->pw_gid, {}};
    int count = 64;
    for (;;) {
        c.groups.resize(static_cast<std::size_t>(count));
        if (::getgrouplist(user.c_str(), pw->pw_gid, c.groups.data(), &count) >= 0) {
            c.groups.resize(static_cast<std::size_t>(count));
            return c;
        }
    }
}

std::optional<std::string> find_program(const std::string& name, const std::string& path) {
    if (name.find('/') != std::string::npos) {
        return name;
    }
    std::size_t begin = 0;
    while (begin <= path.size()) {
        auto end = path.find(':', begin);
        if (end == std::string::npos) {
            end = path.size();
        }
        std::string dir = path.substr(begin, end - begin);
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        begin = end + 1;
    }
    return std::nullopt;
}

std::string describe_exit(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char* abbrev = ::sigabbrev_np(sig);
        return "killed by signal " + std::to_string(sig) + " (SIG" +
               (abbrev != nullptr ? abbrev : "?") + ")";
    }
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

namespace {

/// The child's three standard streams, its progress and its report pipe, both
/// ends of each.
struct ChildPipes {
    Fd in_read, in_write, out_read, out_write, err_read, err_write, progress_read, progress_write,
        report_read, report_write;
};

/// stdin is a pipe when there is input, else /dev/null; stdout, stderr and the
/// report are pipes. An error says why not.
std::optional<std::string> make_pipes(const SubprocessSpec& spec, ChildPipes& p) {
    if (spec.input) {
        if (!make_pipe(p.in_read, p.in_write)) {
            return std::string("cannot make a pipe: ") + std::strerror(errno);
        }
    } else {
        p.in_read.reset(above_child_fds(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
    }
    if (!p.in_read || !make_pipe(p.out_read, p.out_write) || !make_pipe(p.err_read, p.err_write) ||
        !make_pipe(p.report_read, p.report_write) ||
        (spec.on_progress && !make_pipe(p.progress_read, p.progress_write))) {
        return std::string("cannot make a pipe: ") + std::strerror(errno);
    }
    return std::nullopt;
}

/// Starts the child in a group of its own and lets go of its ends of the pipes;
/// -1 with `error` set if it could not be started.
pid_t launch(const SubprocessSpec& spec, ChildPipes& p, std::string& error) {
    // Everything the child needs is built before it starts: it may not allocate.
    std::vector<std::string> argv_strings = spec.argv;
    std::vector<std::string> env_strings = spec.env;
    auto argv = c_strings(argv_strings);
    auto envp = c_strings(env_strings);
    // No handler of the daemon's may run in the child before exec resets them.
    sigset_t all, old;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    ChildStart start{&spec,
                     ::getpid(),
                     p.in_read.get(),
                     p.out_write.get(),
                     p.err_write.get(),
                     p.progress_write ? p.progress_write.get() : -1,
                     p.report_write.get(),
                     argv.data(),
                     envp.data()};
    pid_t pid = start_child(start);
    int start_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) {
        error = std::string("cannot start a process: ") + std::strerror(start_errno);
        return -1;
    }
    ::setpgid(pid, pid);  // also here, so the group exists before anyone signals it
    p.in_read.reset();
    p.out_write.reset();
    p.err_write.reset();
    p.progress_write.reset();
    p.report_write.reset();
    return pid;
}

/// Blocks until the exec (the report pipe closes with it) or a failure report,
/// and says what failed. The child is reaped here only if it failed, so that its
/// pid stays ours.
std::optional<std::string> failed_start(const Fd& report, pid_t pid) {
    StartFailure failure{};
    ssize_t n;
    do {
        n = ::read(report.get(), &failure, sizeof failure);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof failure)) {
        return std::nullopt;
    }
    ::waitpid(pid, nullptr, 0);
    auto stage = static_cast<std::size_t>(failure.stage);
    return std::string(stage < stage_names.size() ? stage_names[stage] : "cannot start") + ": " +
           std::strerror(failure.error);
}

/// Feeds the child its input and keeps what it writes, until its pipes close, or
/// it has exited and drain_grace has passed. What is left of its group is killed
/// once it exits.
class Exchange {
public:
    Exchange(const SubprocessSpec& spec, ChildPipes& p, pid_t pid, Fd& pidfd,
             SubprocessResult& result)
        : spec_(spec), p_(p), pid_(pid), pidfd_(pidfd), result_(result) {
        for (Fd* fd : {&p.in_write, &p.out_read, &p.err_read, &p.progress_read}) {
            if (*fd) {
                ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
            }
        }
        input_ = spec.input ? std::string_view(*spec.input) : std::string_view();
        if (input_.empty()) {
            p.in_write.reset();  // EOF at once
        }
    }

    void run() {
        while (p_.out_read || p_.err_read || (!exited_ && pidfd_)) {
            std::array<pollfd, 5> fds{};
            fds[0] = {p_.out_read ? p_.out_read.get() : -1, POLLIN, 0};
            fds[1] = {p_.err_read ? p_.err_read.get() : -1, POLLIN, 0};
            fds[2] = {p_.in_write ? p_.in_write.get() : -1, POLLOUT, 0};
            fds[3] = {!exited_ && pidfd_ ? pidfd_.get() : -1, POLLIN, 0};
            fds[4] = {p_.progress_read ? p_.progress_read.get() : -1, POLLIN, 0};
            auto timeout = poll_timeout();
            if (!timeout) {
                break;
            }
            int ready = ::poll(fds.data(), fds.size(), *timeout);
            if (ready < 0 && errno != EINTR) {
                break;
            }
            if (ready > 0) {
                handle(fds);
            }
        }
        if (!pidfd_ && !exited_) {
            ::kill(-pid_, SIGKILL);  // no pidfd: the pipes closing is all we could watch
        }
        if (p_.progress_read) {
            read_progress();  // what it wrote just before its output ended
        }
    }

private:
    /// -1 until the child exits, then what is left of the grace; none once it is over.
    std::optional<int> poll_timeout() const {
        if (!exited_) {
            return -1;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            drain_deadline_ - std::chrono::steady_clock::now());
        return left.count() > 0 ? std::optional<int>(static_cast<int>(left.count())) : std::nullopt;
    }

    void handle(const std::array<pollfd, 5>& fds) {
        std::string chunk;
        if (fds[0].revents != 0) {
            if (!read_into(p_.out_read.get(), chunk)) {
                p_.out_read.reset();
            }
            keep_head(result_.out, chunk, spec_.max_output_bytes, result_.out_truncated);
            chunk.clear();
        }
        if (fds[1].revents != 0) {
            if (!read_into(p_.err_read.get(), chunk)) {
                p_.err_read.reset();
            }
            keep_tail(result_.err, chunk, spec_.max_output_bytes, result_.err_truncated);
        }
        if (fds[2].revents != 0) {
            write_input();
        }
        if (fds[4].revents != 0) {
            read_progress();
        }
        if (!exited_ && fds[3].revents != 0) {
            // Exited but not reaped: the group id is still ours to kill. What it
            // left running goes with it.
            exited_ = true;
            ::kill(-pid_, SIGKILL);
            p_.in_write.reset();
            drain_deadline_ = std::chrono::steady_clock::now() + drain_grace;
        }
    }

    void read_progress() {
        std::string chunk;
        if (!read_into(p_.progress_read.get(), chunk)) {
            p_.progress_read.reset();
        }
        if (!chunk.empty()) {
            spec_.on_progress(chunk);
        }
    }

    void write_input() {
        auto w = ::write(p_.in_write.get(), input_.data() + written_, input_.size() - written_);
        if (w > 0) {
            written_ += static_cast<std::size_t>(w);
        }
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written_ == input_.size()) {
            p_.in_write.reset();  // done, or the child stopped reading (EPIPE)
        }
    }

    const SubprocessSpec& spec_;
    ChildPipes& p_;
    pid_t pid_;
    Fd& pidfd_;
    SubprocessResult& result_;
    std::string_view input_;
    std::size_t written_ = 0;
    bool exited_ = false;
    std::chrono::steady_clock::time_point drain_deadline_;
};

}  // namespace

proto::Result<SubprocessResult, std::string> run_subprocess(
    const SubprocessSpec& spec, const std::stop_token& stop,
    const std::function<void(pid_t pgid)>& on_start) {
    ChildPipes pipes;
    if (auto error = make_pipes(spec, pipes)) {
        return std::move(*error);
    }
    std::string error;
    pid_t pid = launch(spec, pipes, error);
    if (pid < 0) {
        return error;
    }
    // glibc 2.36 declares pidfd_open() without C linkage: call the kernel directly.
    Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (on_start) {
        on_start(pid);
    }
    if (auto failed = failed_start(pipes.report_read, pid)) {
        return std::move(*failed);
    }

    SubprocessResult result;
    std::atomic<bool> stopped = false;  // set by the thread that requests the stop
    {
        // Registered after the start (it runs at once if a stop came meanwhile) and
        // gone before the child is reaped, so the group it kills is still ours.
        std::stop_callback kill_on_stop(stop, [pid, &stopped] {
            stopped = true;
            ::kill(-pid, SIGKILL);
        });
        Exchange(spec, pipes, pid, pidfd, result).run();
    }
    while (::waitpid(pid, &result.wait_status, 0) < 0 && errno == EINTR) {
    }
    if (result.err.size() > spec.max_output_bytes) {
        result.err.erase(0, result.err.size() - spec.max_output_bytes);
        result.err_truncated = true;
    }
    result.stopped = stopped;
    return result;
}

}  // namespace taskpool::daemon::tasks
