#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "taskpool/client.hpp"

namespace taskpool {

/// What a task of a Worker is told of its job, and may tell back.
class JobContext {
public:
    JobContext(std::string id, std::string task, int attempt,
               std::function<void(nlohmann::json)> progress)
        : id_(std::move(id)),
          task_(std::move(task)),
          attempt_(attempt),
          progress_(std::move(progress)) {}

    const std::string& id() const { return id_; }
    const std::string& task() const { return task_; }
    int attempt() const { return attempt_; }
    /// Tells the daemon how far the job has got: its `progress`, and a
    /// `job.progress` event to those who watch it. From the task's thread.
    void progress(nlohmann::json value) const { progress_(std::move(value)); }
    /// The job was cancelled or timed out: the daemon has ended it, and nothing the
    /// task returns now counts. A task that can stop early checks this.
    bool cancelled() const { return cancelled_.load(); }
    void cancel() { cancelled_ = true; }

private:
    std::string id_;
    std::string task_;
    int attempt_;
    std::function<void(nlohmann::json)> progress_;
    std::atomic<bool> cancelled_{false};
};

/// A task's failure: becomes `job.fail` with this type and message. Any other
/// exception a task throws fails its job too, with the exception's what().
struct TaskFailure : std::runtime_error {
    TaskFailure(std::string kind, const std::string& message)
        : std::runtime_error(message), type(std::move(kind)) {}
    std::string type;
};

/// A remote worker (PROTOCOL.md section 10): serves tasks of the daemon's from
/// this process, on any host. Each job runs on one of `concurrency` threads; the
/// thread that calls run() reads the connection and sends every report.
///
///     auto worker = taskpool::Worker::connect("tls://jobs:7433", options);
///     worker->task("resize", [](const nlohmann::json& args, taskpool::JobContext& job) {
///         job.progress({{"pct", 50}});
///         return nlohmann::json{{"w", args.at("w")}};
///     });
///     worker->run(4);
class Worker {
public:
    using Task = std::function<nlohmann::json(const nlohmann::json& args, JobContext& job)>;

    /// Connects and says hello, as Client::connect does.
    static ClientResult<Worker> connect(const std::string& address, ConnectOptions options = {});

    Worker(Worker&&) noexcept;
    Worker& operator=(Worker&&) noexcept;
    ~Worker();

    /// Serves `name` with `task` (before run()).
    void task(std::string name, Task task, std::string description = {});
    /// Registers as `name` (none: the daemon names it by address), then serves
    /// jobs, up to `concurrency` at once, until stop() or the connection ends
    /// (an error: the jobs running then are told they are cancelled, since what
    /// they return can no longer be reported). Returns once its tasks have returned.
    /// The daemon sends up to `concurrency` times `prefetch` jobs at once: with
    /// more than 1, a thread that ends a short job finds the next one waiting
    /// instead of asking the daemon, but a job counts as running from when it is
    /// sent here.
    ClientResult<void> run(int concurrency = 1, std::optional<std::string> name = {},
                           int prefetch = 1);
    /// From any thread: take no more jobs, finish and report those running, and
    /// make run() return.
    void stop();

private:
    struct State;
    explicit Worker(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

}  // namespace taskpool
