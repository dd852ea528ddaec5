#include "process_pool.hpp"

#include "daemon/base/unique_fd.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "child_reaper.hpp"
#include "daemon/base/no_throw.hpp"
#include "daemon/tasks/job_processes.hpp"
#include "daemon/tasks/subprocess.hpp"
#include "proto/line_framer.hpp"
#include "worker_protocol.hpp"

extern char** environ;

namespace taskpool::daemon::pools {
namespace {

using base::no_throw;
// A worker that dies before it is ready is replaced after a back-off that doubles
// with each such death in a row, up to the maximum.
constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto max_backoff = std::chrono::seconds(10);
// Outcome lines carry results; bound them well above any request.
constexpr std::size_t max_outcome_bytes = 1 << 30;
// At exit, how long idle workers get to leave after their channel closes.
constexpr auto exit_grace = std::chrono::seconds(2);
constexpr int worker_channel_fd = 3;
// A busy worker holds more runs only while every run it has is this short by its
// task's recent run times: then a round trip through the io thread between two of
// them would cost as much as the runs themselves.
constexpr auto short_run = std::chrono::milliseconds(1);
// How many runs a worker holds at most, the one it runs included: of 4, 8, 16 and
// 32, 16 did best for pipelined short jobs; a held job waits for at most 15 short
// runs.
constexpr std::size_t max_held_runs = 16;
// An idle worker handed a run reads it at once; one that has not read a byte of it
// after this long is stopped or stuck, and is replaced.
constexpr auto take_timeout = std::chrono::seconds(3);
// How often the resident memory of busy workers is read under memory_limit_mb: a
// few microseconds a worker, and only while some worker is busy.
constexpr auto memory_check_period = std::chrono::milliseconds(50);

/// True when the process is stopped (SIGSTOP, or a tracer): /proc/PID/stat.
bool stopped(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');  // the name may hold spaces and parentheses
    return close != std::string::npos && close + 2 < line.size() &&
           (line[close + 2] == 'T' || line[close + 2] == 't');
}

/// The resident set of a process (/proc/PID/statm), 0 if it cannot be read.
std::size_t resident_bytes(pid_t pid) {
    static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
    std::size_t size = 0;
    std::size_t resident = 0;
    return statm >> size >> resident ? resident * page : 0;
}

/// What a worker holds resident, with the processes of a command task it runs:
/// what its job holds.
std::size_t held_memory(pid_t worker, pid_t command_group) {
    return (worker > 0 ? resident_bytes(worker) : 0) +
           (command_group > 0 ? resident_bytes(command_group) : 0);
}

/// The binary this daemon runs, even if its file was replaced since: a
/// descriptor of /proc/self/exe opened once, named through /proc/self/fd. (Under
/// valgrind, which answers the open of /proc/self/exe with the program it runs,
/// workers start too, where /proc/self/exe itself would name valgrind.)
const std::string& own_binary() {
    static const std::string path = [] {
        int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        // Above the worker's channel, which a spawn's dup2 would overwrite first.
        int kept = fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, worker_channel_fd + 1);
        if (fd >= 0) {
            ::close(fd);
        }
        return kept < 0 ? std::string("/proc/self/exe") : "/proc/self/fd/" + std::to_string(kept);
    }();
    return path;
}

/// Spawns `taskpoold --worker` with `child_fd` as its fd 3, in its own process group.
pid_t spawn_worker(int child_fd, const ProcessPool::Settings& settings, std::string& error) {
    std::vector<std::string> args = {"taskpoold", "--worker", std::to_string(worker_channel_fd),
                                     "--parent", std::to_string(::getpid())};
    if (settings.user) {
        args.emplace_back("--user");
        args.push_back(*settings.user);
    }
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    // Under memory_limit_mb, tcmalloc gives freed pages back to the kernel at once,
    // not little by little: the limit counts what a worker holds resident, so a
    // large job's memory must leave with it. Without a limit that is only cost.
    // (Command tasks get an environment of their own.)
    static char decommit[] = "TCMALLOC_AGGRESSIVE_DECOMMIT=true";
    std::vector<char*> env;
    if (settings.memory_limit_mb > 0) {
        env.push_back(decommit);
    }
    for (char** e = environ; *e != nullptr; ++e) {
        env.push_back(*e);
    }
    env.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, child_fd, worker_channel_fd);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);  // the daemon ignores it; a worker's commands must not
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, own_binary().c_str(), &actions, &attr, argv.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        error = std::strerror(rc);
        return -1;
    }
    return pid;
}

/// How a worker ended, with what its exit status means where it is one of ours.
std::string describe_worker_exit(int status) {
    auto meaning = worker_exit_meaning(status);
    return tasks::describe_exit(status) +
           (meaning.empty() ? std::string() : " (" + std::string(meaning) + ")");
}

}  // namespace

ProcessPool::ProcessPool(asio::io_context& io, ChildReaper& reaper, Settings settings,
                         sched::RunEvents events)
    : io_(io),
      reaper_(reaper),
      settings_(std::move(settings)),
      setup_line_(encode_setup(settings_.tasks)),
      events_(std::move(events)),
      memory_timer_(io) {
    resize(settings_.size);
}

void ProcessPool::add_slot() {
    auto slot = std::make_shared<Slot>(io_);
    slot->index = next_index_++;
    slots_.push_back(slot);
    spawn(slot);
}

void ProcessPool::remove_slot(const Slot& slot) {
    std::erase_if(slots_, [&](const auto& s) { return s.get() == &slot; });
}

std::size_t ProcessPool::size() const {
    return static_cast<std::size_t>(
        std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return !s->retiring; }));
}

void ProcessPool::resize(std::size_t target) {
    while (size() < target) {
        add_slot();
    }
    // Shrinking: idle workers go first, then ones still starting, then busy ones
    // once their job ends. A running job is never stopped.
    for (State state : {State::idle, State::waiting_to_respawn, State::busy}) {
        for (std::size_t i = 0; i < slots_.size() && size() > target;) {
            auto s = slots_[i];
            if (s->retiring || s->state != state) {
                ++i;
                continue;
            }
            s->retiring = true;
            if (state == State::idle) {
                retire(*s);
            } else if (state == State::waiting_to_respawn) {
                s->respawn_timer.cancel();
                remove_slot(*s);
                continue;
            }
            ++i;
        }
    }
}

ProcessPool::~ProcessPool() {
    shutdown();
}

std::size_t ProcessPool::busy() const {
    return static_cast<std::size_t>(std::count_if(
        slots_.begin(), slots_.end(), [](const auto& s) { return s->state == State::busy; }));
}

bool ProcessPool::can_take() const {
    return slot_for_next_run() != nullptr;
}

std::size_t ProcessPool::room() const {
    std::size_t room = 0;
    for (const auto& s : slots_) {
        if (s->state == State::idle && !s->retiring) {
            ++room;
        } else if (may_hold_another(*s)) {
            room += max_held_runs - s->runs.size();
        }
    }
    return room;
}

bool ProcessPool::may_hold_another(const Slot& s) const {
    if (s.state != State::busy || s.retiring || s.runs.size() >= max_held_runs ||
        recycled_after(s, s.runs.size())) {
        return false;
    }
    return std::all_of(s.runs.begin(), s.runs.end(), [&](const Held& h) {
        auto typical = typical_run_.find(h.task);
        return !h.withdrawn && typical != typical_run_.end() && typical->second < short_run;
    });
}

bool ProcessPool::recycled_after(const Slot& s, std::size_t runs) const {
    return settings_.max_jobs_per_worker > 0 &&
           s.jobs_done + runs >= static_cast<std::uint64_t>(settings_.max_jobs_per_worker);
}

ProcessPool::Slot* ProcessPool::slot_for_next_run() const {
    Slot* best = nullptr;
    for (const auto& s : slots_) {
        if (s->state == State::idle && !s->retiring) {
            return s.get();
        }
        if (may_hold_another(*s) && (best == nullptr || s->runs.size() < best->runs.size())) {
            best = s.get();
        }
    }
    return best;
}

void ProcessPool::spawn(const std::shared_ptr<Slot>& slot) {
    Slot& s = *slot;
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        respawn_later(slot, std::string("socketpair failed: ") + std::strerror(errno));
        return;
    }
    base::UniqueFd ours(fds[0]);
    base::UniqueFd theirs(fds[1]);
    if (theirs.get() == worker_channel_fd) {
        // dup2 onto itself would keep CLOEXEC and the worker would lose its channel.
        theirs.reset(::fcntl(theirs.get(), F_DUPFD_CLOEXEC, worker_channel_fd + 1));
        if (!theirs) {
            respawn_later(slot, std::string("fcntl failed: ") + std::strerror(errno));
            return;
        }
    }
    std::string error;
    pid_t pid = spawn_worker(theirs.get(), settings_, error);
    theirs.reset();
    if (pid < 0) {
        respawn_later(slot, "posix_spawn failed: " + error);
        return;
    }
    // Before any run: the worker reads its setup first. Small, and read at once.
    write_all(ours.get(), setup_line_);
    reaper_.watch(pid, [this, slot, pid](int status) { on_exit(slot, pid, status); });
    s.pid = pid;
    s.worker = proto::WorkerInfo{pid, std::nullopt, {}, {}};
    s.child_pgid = 0;
    s.state = State::idle;
    s.jobs_done = 0;
    s.ready = false;
    s.channel = std::make_shared<Channel>(io_, asio::local::stream_protocol(), ours.release());
    asio::co_spawn(io_, read_loop(slot, s.channel), [](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::error("worker channel: {}", ex.what());
            }
        }
    });
    spdlog::debug("worker {} started: pid {}", s.index, pid);
}

void ProcessPool::respawn_later(const std::shared_ptr<Slot>& slot, const std::string& why) {
    Slot& s = *slot;
    s.state = State::waiting_to_respawn;
    s.pid = -1;
    auto delay = std::min<Clock::duration>(first_backoff * (1 << std::min(s.failed_starts, 10)),
                                           max_backoff);
    ++s.failed_starts;
    spdlog::warn("worker {}: {}; starting another in {} ms", s.index, why,
                 std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    s.respawn_timer.expires_after(delay);
    s.respawn_timer.async_wait([this, slot](std::error_code ec) {
        if (ec || shut_down_ || slot->retiring) {
            return;
        }
        spawn(slot);
        if (slot->state == State::idle) {
            events_.capacity();
        }
    });
}

std::uint64_t ProcessPool::start(sched::Run run) {
    Slot& s = *slot_for_next_run();
    s.runs.push_back(Held{run.seq, run.job_id, run.attempt, next_handle_++, run.task});
    std::uint64_t handle = s.runs.back().handle;
    encode_run(run, s.out);
    if (!s.writing) {
        write_runs(s);
    }
    if (s.state == State::idle) {
        s.state = State::busy;
        watch_take(s);
        begin_front(s);
    }
    return handle;
}

void ProcessPool::write_runs(Slot& s) {
    // One write for every run handed over since the last one began.
    auto bytes = std::make_shared<std::string>(std::move(s.out));
    s.out.clear();
    s.writing = true;
    asio::async_write(*s.channel, asio::buffer(*bytes),
                      [this, slot = s.shared_from_this(), bytes, channel = s.channel](
                          std::error_code ec, std::size_t) {
                          // A failed write means the worker died: its exit tells the rest.
                          if (channel != slot->channel) {
                              return;
                          }
                          slot->writing = false;
                          if (!ec && !slot->out.empty()) {
                              write_runs(*slot);
                          }
                      });
}

void ProcessPool::watch_take(Slot& s) {
    s.take_timer.expires_after(take_timeout);
    s.take_timer.async_wait([this, slot = s.shared_from_this(),
                             handle = s.runs.front().handle](std::error_code ec) {
        Slot& w = *slot;
        if (ec || shut_down_ || w.state != State::busy || w.runs.empty() ||
            w.runs.front().handle != handle || !w.channel || w.runs.size() > 1) {
            return;  // it ended, or holds runs behind it that it may not read yet
        }
        if (w.writing || (!w.ready && !stopped(w.pid))) {
            watch_take(w);  // still being written, or still starting: look again later
            return;
        }
        // Its one run is all there is in the channel, and the kernel still holds
        // bytes of it (SIOCOUTQ counts them with some overhead): the worker has not
        // read it (SIGSTOPped, or stuck).
        int unread = 0;
        if (::ioctl(w.channel->native_handle(), SIOCOUTQ, &unread) != 0 || unread <= 0) {
            return;
        }
        spdlog::warn(
            "worker {} (pid {}) did not take its job in {} s (stopped or hung): "
            "replaced, and the job goes to another worker",
            w.index, w.pid, std::chrono::duration_cast<std::chrono::seconds>(take_timeout).count());
        w.hung = true;
        w.state = State::stopping;
        ::kill(-w.pid, SIGKILL);
    });
}

void ProcessPool::begin_front(Slot& s) {
    Held& front = s.runs.front();
    if (front.withdrawn) {
        kill_groups(s);  // cancelled while it waited, and now it runs
        s.state = State::stopping;
        return;
    }
    events_.started({front.seq, front.attempt, s.worker, proto::now_timestamp()});
    if (settings_.memory_limit_mb > 0 && !watching_memory_) {
        watching_memory_ = true;
        watch_memory();
    }
}

void ProcessPool::watch_memory() {
    memory_timer_.expires_after(memory_check_period);
    memory_timer_.async_wait([this](std::error_code ec) {
        if (ec || shut_down_) {
            return;
        }
        auto limit = static_cast<std::size_t>(settings_.memory_limit_mb) << 20;
        bool any_busy = false;
        for (auto& s : slots_) {
            if (s->state != State::busy) {
                continue;
            }
            auto rss = held_memory(s->pid, s->child_pgid);
            if (rss > limit) {
                kill_groups(*s);
                s->state = State::stopping;  // its outcome, if one comes now, is ignored
                s->over_memory = rss;
            } else {
                any_busy = true;
            }
        }
        watching_memory_ = any_busy;
        if (any_busy) {
            watch_memory();
        }
    });
}

bool ProcessPool::stop(std::uint64_t handle, sched::StopReason /*reason*/) {
    for (auto& s : slots_) {
        for (std::size_t i = 0; i < s->runs.size(); ++i) {
            Held& held = s->runs[i];
            if (held.handle != handle) {
                continue;
            }
            if (i == 0) {
                if (s->state == State::busy) {
                    kill_groups(*s);
                    s->state = State::stopping;
                }
                return false;
            }
            held.withdrawn = true;  // still in the worker's channel: killed if it comes up
            return true;
        }
    }
    return false;
}

void ProcessPool::kill_groups(Slot& s) {
    ::kill(-s.pid, SIGKILL);
    if (s.child_pgid > 0) {
        ::kill(-s.child_pgid, SIGKILL);
        // The worker dies before it could look for what its command left outside
        // the group: looked for here, once (its exit will not look again).
        tasks::kill_job_processes(s.runs.front().job_id, s.runs.front().attempt);
        s.child_pgid = 0;
    }
}

void ProcessPool::retire(Slot& s) {
    s.state = State::stopping;
    std::error_code ignored;
    s.channel->close(ignored);  // the worker exits on EOF; on_exit() replaces it
}

asio::awaitable<void> ProcessPool::read_loop(std::shared_ptr<Slot> slot,
                                             std::shared_ptr<Channel> channel) {
    Slot& s = *slot;
    proto::LineFramer framer(max_outcome_bytes);
    std::string buf(64 * 1024, '\0');
    for (;;) {
        auto [ec, n] = co_await channel->async_read_some(asio::buffer(buf), no_throw);
        if (ec || channel != s.channel) {
            co_return;  // the worker is gone; its exit reaches on_exit()
        }
        framer.feed(std::string_view(buf.data(), n));
        for (auto frame = framer.next(); frame.status == proto::LineFramer::Status::line;
             frame = framer.next()) {
            if (frame.line == worker_ready_line) {
                s.ready = true;
                continue;
            }
            auto report = decode_report(frame.line);
            if (!report) {
                if (auto held_back = bad_reports_.admit()) {
                    spdlog::warn(
                        "worker {} (pid {}) sent a line that is not a report ({}); "
                        "it was dropped{}",
                        s.index, s.pid, report.error().message,
                        LogThrottle::held_back_note(*held_back));
                }
                continue;
            }
            if (auto* child = std::get_if<ChildStarted>(&*report)) {
                if (s.state == State::busy && child->job_id == s.runs.front().job_id) {
                    s.child_pgid = child->pgid;
                }
                continue;
            }
            if (auto* progressed = std::get_if<Progressed>(&*report)) {
                if (s.state == State::busy && progressed->job_id == s.runs.front().job_id &&
                    progressed->attempt == s.runs.front().attempt) {
                    events_.progress(s.runs.front().seq, progressed->attempt,
                                     std::move(progressed->progress));
                }
                continue;
            }
            auto& ended = std::get<RunEnded>(*report);
            if (s.state == State::busy && ended.job_id == s.runs.front().job_id &&
                ended.attempt == s.runs.front().attempt) {
                on_outcome(s, std::move(ended));
            }  // else a run already ended by a kill
        }
    }
}

void ProcessPool::on_outcome(Slot& s, RunEnded ended) {
    Held done = std::move(s.runs.front());
    s.runs.pop_front();
    // As the worker measured it: a busy daemon must not make short runs look long.
    auto [typical, added] = typical_run_.try_emplace(done.task, ended.ran);
    if (!added) {
        typical->second = (typical->second + ended.ran) / 2;  // quick to forget a slow start
    }
    s.child_pgid = 0;
    ++s.jobs_done;
    s.failed_starts = 0;
    events_.finished({done.seq, done.attempt, std::move(ended.outcome)});
    if (!s.runs.empty()) {
        begin_front(s);  // the worker has already moved on to it
    } else if (s.retiring || recycled_after(s, 0)) {
        retire(s);
    } else {
        s.state = State::idle;
    }
}

void ProcessPool::on_exit(const std::shared_ptr<Slot>& slot, pid_t pid, int status) {
    Slot& s = *slot;
    if (s.child_pgid > 0) {
        ::kill(-s.child_pgid, SIGKILL);  // a command outlives its worker only by a moment
        tasks::kill_job_processes(s.runs.front().job_id, s.runs.front().attempt);
        s.child_pgid = 0;
    }
    auto over_memory = std::exchange(s.over_memory, 0);
    bool hung = std::exchange(s.hung, false);
    bool on_purpose = s.state == State::stopping && over_memory == 0 && !hung;
    bool was_busy = s.state == State::busy || over_memory > 0 || hung;
    std::error_code ignored;
    s.channel->close(ignored);
    s.channel.reset();
    s.out.clear();
    s.writing = false;
    s.pid = -1;
    s.take_timer.cancel();
    auto runs = std::exchange(s.runs, {});
    if (hung) {
        events_.returned(runs.front().seq, runs.front().attempt);  // it never began it
    } else if (over_memory > 0) {
        events_.finished(
            {runs.front().seq, runs.front().attempt,
             proto::JobError{
                 proto::JobErrorCode::memory_limit,
                 "worker " + std::to_string(pid) + " reached " + std::to_string(over_memory >> 20) +
                     " MiB resident, over process_pool.memory_limit_mb (" +
                     std::to_string(settings_.memory_limit_mb) + "); it was replaced"}});
    } else if (was_busy) {
        events_.finished({runs.front().seq, runs.front().attempt,
                          proto::JobError{proto::JobErrorCode::worker_crashed,
                                          "worker " + std::to_string(pid) + " " +
                                              describe_worker_exit(status)}});
    }
    for (std::size_t i = 1; i < runs.size(); ++i) {  // they never began: queued again
        if (!runs[i].withdrawn) {
            events_.returned(runs[i].seq, runs[i].attempt);
        }
    }
    if (shut_down_) {
        return;
    }
    if (s.retiring) {
        remove_slot(s);
        return;
    }
    // Dying before it is ready, or while it waits for work, says the worker cannot
    // run here (a limit, a broken binary): replace it, but not in a tight loop.
    if (!on_purpose && !was_busy) {
        respawn_later(slot, "pid " + std::to_string(pid) + " " + describe_worker_exit(status) +
                                (s.ready ? " while idle" : " before it was ready"));
        return;
    }
    if (over_memory > 0) {
        spdlog::warn(
            "worker {} (pid {}) stopped at {} MiB resident; its job failed with "
            "memory_limit",
            s.index, pid, over_memory >> 20);
    } else if (!on_purpose && !hung) {
        spdlog::warn("worker {} (pid {}) {}{}", s.index, pid, describe_worker_exit(status),
                     was_busy ? "; its job failed with worker_crashed" : "");
    }
    spawn(slot);
    if (s.state == State::idle) {
        events_.capacity();
    }
}

std::vector<sched::WorkerStatus> ProcessPool::workers() const {
    std::vector<sched::WorkerStatus> out;
    for (const auto& s : slots_) {
        const char* state = s->state == State::idle       ? "idle"
                            : s->state == State::busy     ? "busy"
                            : s->state == State::stopping ? "stopping"
                                                          : "starting";
        out.push_back({s->pid, state, s->jobs_done, s->runs.empty() ? 0 : s->runs.size() - 1,
                       held_memory(s->pid, s->child_pgid)});
    }
    return out;
}

void ProcessPool::shutdown() {
    if (shut_down_) {
        return;
    }
    shut_down_ = true;
    std::vector<pid_t> pids;
    memory_timer_.cancel();
    for (auto& s : slots_) {
        s->respawn_timer.cancel();
        if (s->channel) {
            std::error_code ignored;
            s->channel->close(ignored);
        }
        if (s->pid > 0) {
            if (s->state == State::busy || s->state == State::stopping) {
                kill_groups(*s);
            }
            pids.push_back(s->pid);
        }
    }
    // The io loop has stopped, so reap here: idle workers leave on EOF at once.
    auto deadline = Clock::now() + exit_grace;
    for (pid_t pid : pids) {
        while (::waitpid(pid, nullptr, WNOHANG) == 0) {
            if (Clock::now() >= deadline) {
                ::kill(-pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
}

}  // namespace taskpool::daemon::pools
