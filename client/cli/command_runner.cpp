#include "command_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>

namespace taskpool::cli {
namespace {

// A command told to stop gets SIGTERM, then this long before SIGKILL.
constexpr auto kill_grace = std::chrono::seconds(2);
// Once it has exited, how long its output is still read: a process that left its
// group (setsid) may hold the pipes open for ever.
constexpr auto drain_grace = std::chrono::milliseconds(500);

/// Whether `pid` has exited, without reaping it: its group id stays ours to kill.
bool exited(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
}

// The descriptor the command writes its progress lines on.
constexpr int progress_fd = 3;

/// A close-on-exec pipe with both ends above progress_fd, so that the child's
/// dup2() onto 0-3 meets none of them.
bool make_pipe(int fds[2]) {
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return false;
    }
    for (int i = 0; i < 2; ++i) {
        if (fds[i] <= progress_fd) {
            int moved = ::fcntl(fds[i], F_DUPFD_CLOEXEC, progress_fd + 1);
            ::close(fds[i]);
            fds[i] = moved;
        }
    }
    return fds[0] >= 0 && fds[1] >= 0;
}

void append(std::string& to, const char* data, std::size_t n, std::size_t max, bool& truncated) {
    std::size_t room = to.size() < max ? max - to.size() : 0;
    to.append(data, std::min(n, room));
    truncated = truncated || n > room;
}

}  // namespace

CommandRun run_command(const std::vector<std::string>& argv, const std::string& input,
                       const std::vector<std::string>& env, std::size_t max_output,
                       const std::function<bool()>& stop,
                       const std::function<void(std::string_view written)>& on_progress) {
    CommandRun run;
    // Everything the child needs is made before the fork: after it, in a process
    // with other threads, the child may not allocate.
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    std::vector<std::string> env_text(env);
    for (char** e = environ; *e != nullptr; ++e) {
        env_text.emplace_back(*e);
    }
    std::vector<char*> envp;
    for (auto& e : env_text) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    static constexpr char cannot_run[] = "taskpool worker: cannot run the command\n";
    int in[2], out[2], err[2], progress[2];
    if (!make_pipe(in) || !make_pipe(out) || !make_pipe(err) || !make_pipe(progress)) {
        run.error = std::string("cannot make pipes: ") + std::strerror(errno);
        return run;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::setpgid(0, 0);                     // its own group: a stop ends whatever it started too
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // and it dies with the worker, even by kill -9
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::dup2(progress[1], progress_fd);
        // Not the worker's blocked signals, nor its ignored SIGPIPE.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::signal(SIGPIPE, SIG_DFL);
        ::execvpe(args[0], args.data(), envp.data());
        (void)!::write(2, cannot_run, sizeof cannot_run - 1);
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    ::close(progress[1]);
    if (pid < 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        ::close(progress[0]);
        run.error = std::string("cannot fork: ") + std::strerror(errno);
        return run;
    }
    ::fcntl(in[1], F_SETFL, O_NONBLOCK);
    std::size_t written = 0;
    int to_child = input.empty() ? (::close(in[1]), -1) : in[1];
    std::array<pollfd, 4> fds{pollfd{out[0], POLLIN, 0}, pollfd{err[0], POLLIN, 0},
                              pollfd{to_child, POLLOUT, 0}, pollfd{progress[0], POLLIN, 0}};
    std::optional<std::chrono::steady_clock::time_point> kill_at;
    char buffer[65536];
    std::optional<std::chrono::steady_clock::time_point> drained_by;
    while ((fds[0].fd >= 0 || fds[1].fd >= 0) &&
           (!drained_by || std::chrono::steady_clock::now() < *drained_by)) {
        if (!drained_by && exited(pid)) {
            // What it left in its group goes; only what left the group can hold
            // the pipes open now, and it has a moment to let go of them.
            ::kill(-pid, SIGKILL);
            drained_by = std::chrono::steady_clock::now() + drain_grace;
        }
        if (!kill_at && stop && stop()) {
            ::kill(-pid, SIGTERM);
            kill_at = std::chrono::steady_clock::now() + kill_grace;
            run.stopped = true;
        }
        if (kill_at && std::chrono::steady_clock::now() >= *kill_at) {
            ::kill(-pid, SIGKILL);
        }
        if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) {
            break;
        }
        for (int i : {0, 1, 3}) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
                auto n = ::read(fds[i].fd, buffer, sizeof buffer);
                if (n > 0 && i == 3) {
                    on_progress(std::string_view(buffer, static_cast<std::size_t>(n)));
                } else if (n > 0) {
                    append(i == 0 ? run.out : run.err, buffer, static_cast<std::size_t>(n),
                           max_output, run.truncated);
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    ::close(fds[i].fd);
                    fds[i].fd = -1;
                }
            }
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
            auto n = ::write(fds[2].fd, input.data() + written, input.size() - written);
            if (n > 0) {
                written += static_cast<std::size_t>(n);
            }
            if (written == input.size() || (n < 0 && errno != EAGAIN)) {
                ::close(fds[2].fd);  // end of its input; a command that reads none is fine
                fds[2].fd = -1;
            }
        }
    }
    for (const auto& fd : fds) {
        if (fd.fd >= 0) {
            ::close(fd.fd);
        }
    }
    while (::waitpid(pid, &run.wait_status, 0) < 0 && errno == EINTR) {
    }
    return run;
}

}  // namespace taskpool::cli
