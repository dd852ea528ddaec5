#include "taskpool/worker.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "connection.hpp"
#include "proto/json_dom.hpp"

namespace taskpool {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

}  // namespace

struct Worker::State {
    struct Assigned {
        std::shared_ptr<JobContext> context;
        json args;
    };
    /// A report from a job thread; a final one ends its context's run.
    struct Report {
        std::shared_ptr<JobContext> context;
        proto::RequestBody body;
        bool final;
    };

    Client client;
    std::map<std::string, std::pair<Task, std::string>, std::less<>> tasks;  // task, description

    // Under the mutex: the jobs that job threads take, and the reports they leave
    // for the reading thread, which takes them when woken.
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Assigned> queue;
    std::vector<Report> reports;
    bool woken = false;  // reports wait, and the reading thread is told
    bool closing = false;

    // The reading thread's alone: the runs not yet reported as ended.
    std::map<std::string, std::shared_ptr<JobContext>, std::less<>> running;
    // stop() sets the first, then wakes the reading thread if it has begun to
    // serve; run() sets the second, then looks at the first: one of them sees
    // the other, so a stop during registration is neither lost nor an error.
    std::atomic<bool> stop_requested = false;
    std::atomic<bool> serving = false;

    explicit State(Client c) : client(std::move(c)) {}

    /// From a job thread: leaves `body` for the reading thread, and wakes it
    /// unless an earlier report already has.
    void report(std::shared_ptr<JobContext> context, proto::RequestBody body, bool final) {
        bool wake = false;
        {
            std::lock_guard lock(mutex);
            reports.push_back({std::move(context), std::move(body), final});
            wake = !std::exchange(woken, true);
        }
        if (wake) {
            client.conn_->wake();
        }
    }

    /// On the reading thread: the reports left so far, encoded into `out`; the
    /// runs they end are over.
    void take_reports(std::vector<Report>& taken, std::string& out) {
        {
            std::lock_guard lock(mutex);
            taken.swap(reports);
            woken = false;
        }
        for (auto& r : taken) {
            if (r.final) {
                // A later attempt of the same job may be running.
                if (auto it = running.find(r.context->id());
                    it != running.end() && it->second == r.context) {
                    running.erase(it);
                }
            }
            client.encode(std::move(r.body), out);
        }
        taken.clear();
    }

    void run_job(Assigned a) {
        auto& ctx = *a.context;
        if (ctx.cancelled()) {  // cancelled while it waited for a thread
            report(std::move(a.context),
                   proto::JobFailRequest{ctx.id(), "cancelled", std::nullopt, std::nullopt}, true);
            return;
        }
        auto task = tasks.find(ctx.task());
        if (task == tasks.end()) {  // not one it registered: the daemon's mistake, but say so
            report(std::move(a.context),
                   proto::JobFailRequest{ctx.id(), "this worker has no task '" + ctx.task() + "'",
                                         std::string("unknown_task"), std::nullopt},
                   true);
            return;
        }
        proto::RequestBody body;
        try {
            auto result = task->second.first(a.args, ctx);
            body = proto::JobDoneRequest{ctx.id(), proto::RawJson(result)};
        } catch (const TaskFailure& e) {
            body = proto::JobFailRequest{ctx.id(), e.what(), e.type, std::nullopt};
        } catch (const std::exception& e) {
            body =
                proto::JobFailRequest{ctx.id(), e.what(), std::string("exception"), std::nullopt};
        } catch (...) {
            body =
                proto::JobFailRequest{ctx.id(), "the task threw something else than an exception",
                                      std::string("exception"), std::nullopt};
        }
        report(std::move(a.context), std::move(body), true);
    }

    void serve_jobs() {
        for (;;) {
            Assigned next;
            {
                std::unique_lock lock(mutex);
                ready.wait(lock, [this] { return closing || !queue.empty(); });
                if (queue.empty()) {
                    return;
                }
                next = std::move(queue.front());
                queue.pop_front();
            }
            run_job(std::move(next));
        }
    }

    /// A job.assign: its context, queued for a job thread.
    void assign(std::string id, std::string task, int attempt, json args) {
        auto context =
            std::make_shared<JobContext>(id, std::move(task), attempt, [this, id](json value) {
                report(nullptr, proto::JobProgressRequest{id, proto::RawJson(value)}, false);
            });
        running[std::move(id)] = context;
        {
            std::lock_guard lock(mutex);
            queue.push_back({std::move(context), std::move(args)});
        }
        ready.notify_one();
    }

    /// Acts on a line from the daemon: a job.assign, a job.cancel or a reply. True
    /// when it is the reply to `quiet_id`.
    ClientResult<bool> take_line(std::string_view line, std::optional<std::int64_t> quiet_id) {
        auto taken = proto::read_object(line, [&](auto& r) -> proto::Result<bool> {
            std::optional<std::string> event;
            r.text("event", event);
            if (!event) {
                // Replies need nothing else: a report on a job that ended
                // meanwhile gets not_assigned, which changes nothing.
                std::optional<std::int64_t> id;
                r.integer("id", id, INT64_MIN, INT64_MAX);
                return quiet_id && id == quiet_id;
            }
            if (*event == "job.assign") {
                auto job = r.object("job");
                std::optional<std::string> id;
                std::optional<std::string> task;
                std::optional<std::int64_t> attempts;
                json args;
                if (job) {  // after a field it cannot read, a reader reads no more
                    job->text("id", id);
                    job->text("task", task);
                    job->any("args", args);
                    job->integer("attempts", attempts, 1, INT32_MAX);
                }
                if (!id || !task) {
                    return proto::bad_request("a job.assign without the job's id and task");
                }
                assign(std::move(*id), std::move(*task), static_cast<int>(attempts.value_or(1)),
                       std::move(args));
            } else if (*event == "job.cancel") {
                std::optional<std::string> job;
                r.text("job", job);
                if (auto it = job ? running.find(*job) : running.end(); it != running.end()) {
                    it->second->cancel();
                }
            }
            return false;
        });
        if (!taken) {
            return ClientError{
                ClientError::Kind::protocol, std::nullopt,
                "the daemon sent a line this worker cannot read: " + taken.error().message};
        }
        return *taken;
    }
};

Worker::Worker(std::unique_ptr<State> state) : state_(std::move(state)) {}
Worker::Worker(Worker&&) noexcept = default;
Worker& Worker::operator=(Worker&&) noexcept = default;
Worker::~Worker() = default;

ClientResult<Worker> Worker::connect(const std::string& address, ConnectOptions options) {
    auto client = Client::connect(address, std::move(options));
    if (!client) {
        return client.error();
    }
    return Worker(std::make_unique<State>(std::move(*client)));
}

void Worker::task(std::string name, Task task, std::string description) {
    state_->tasks[std::move(name)] = {std::move(task), std::move(description)};
}

void Worker::stop() {
    state_->stop_requested = true;
    if (state_->serving) {
        state_->client.conn_->wake();
    }
}

ClientResult<void> Worker::run(int concurrency, std::optional<std::string> name, int prefetch) {
    auto& s = *state_;
    proto::WorkerRegisterRequest registration;
    for (const auto& [task, entry] : s.tasks) {
        registration.tasks.push_back({task, entry.second});
    }
    registration.capacity = concurrency * prefetch;
    registration.name = std::move(name);
    auto registered = s.client.call(std::move(registration), 30);
    if (!registered) {
        return registered.error();
    }
    // Half the heartbeat: a ping is due well before the daemon would miss one.
    auto beat = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(registered->value("heartbeat_s", 5.0) / 2));

    std::vector<std::jthread> threads;
    for (int i = 0; i < concurrency; ++i) {
        threads.emplace_back([&s] { s.serve_jobs(); });
    }
    auto close_threads = [&] {
        {
            std::lock_guard lock(s.mutex);
            s.closing = true;
        }
        s.ready.notify_all();
        threads.clear();  // joins
    };

    s.serving = true;
    auto& conn = *s.client.conn_;
    // A stop sends worker.quiet; until its reply, a job may still be on its way.
    std::optional<std::int64_t> quiet_id;
    bool quiet = false;
    auto next_beat = Clock::now() + beat;
    std::optional<ClientError> failed;
    std::vector<State::Report> taken;
    std::string out;
    while (!failed) {
        out.clear();
        if (s.stop_requested && !quiet_id) {
            quiet_id = s.client.encode(proto::WorkerQuietRequest{}, out);
        }
        if (Clock::now() >= next_beat) {
            s.client.encode(proto::PingRequest{}, out);
            next_beat = Clock::now() + beat;
        }
        s.take_reports(taken, out);
        if (!out.empty()) {
            if (auto sent = conn.write(out); !sent) {
                failed = sent.error();
                break;
            }
        }
        if (quiet && s.running.empty()) {
            break;
        }
        auto line = conn.read_frame(next_beat);
        if (!line) {
            if (line.error().kind != ClientError::Kind::timeout) {
                failed = line.error();
            }
            continue;
        }
        auto took = s.take_line(*line, quiet_id);
        if (!took) {
            failed = took.error();
        } else if (*took) {
            quiet = true;
        }
    }
    if (failed) {
        // What runs now cannot be reported: the daemon runs it again, or fails it.
        for (auto& [id, context] : s.running) {
            context->cancel();
        }
    }
    close_threads();
    if (failed) {
        return *failed;
    }
    return {};
}

}  // namespace taskpool
