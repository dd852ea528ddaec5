#include "taskpool/worker.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "connection.hpp"

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

    Client client;
    std::map<std::string, std::pair<Task, std::string>, std::less<>> tasks;  // task, description

    // Job threads take from the queue; their reports reach the reading thread by
    // Connection::wake(), which alone touches what follows the queue.
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<Assigned> queue;
    bool closing = false;

    std::vector<proto::RequestBody> outbox;
    std::map<std::string, std::shared_ptr<JobContext>, std::less<>> running;
    // stop() sets the first, then wakes the reading thread if it has begun to
    // serve; run() sets the second, then looks at the first: one of them sees
    // the other, so a stop during registration is neither lost nor an error.
    std::atomic<bool> stop_requested = false;
    std::atomic<bool> serving = false;

    explicit State(Client c) : client(std::move(c)) {}

    /// From a job thread: hands `report` to the reading thread. A final one ends
    /// `context`'s run (a later attempt of the same job may be running too).
    void report(const std::shared_ptr<JobContext>& context, proto::RequestBody body, bool final) {
        client.conn_->wake([this, context, body = std::move(body), final]() mutable {
            outbox.push_back(std::move(body));
            if (auto it = running.find(context->id());
                final && it != running.end() && it->second == context) {
                running.erase(it);
            }
        });
    }

    void run_job(Assigned a) {
        auto& ctx = *a.context;
        if (ctx.cancelled()) {  // cancelled while it waited for a thread
            report(a.context,
                   proto::JobFailRequest{ctx.id(), "cancelled", std::nullopt, std::nullopt}, true);
            return;
        }
        auto task = tasks.find(ctx.task());
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
        report(a.context, std::move(body), true);
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
    void assign(const json& job) {
        std::string id = job.value("id", "");
        std::string task = job.value("task", "");
        auto context = std::make_shared<JobContext>(
            id, task, job.value("attempts", 1), [this, id](json value) {
                client.conn_->wake([this, id, value = std::move(value)] {
                    outbox.push_back(proto::JobProgressRequest{id, proto::RawJson(value)});
                });
            });
        running[id] = context;
        {
            std::lock_guard lock(mutex);
            queue.push_back({std::move(context), job.value("args", json())});
        }
        ready.notify_one();
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
        state_->client.conn_->wake([] {});
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
    while (!failed) {
        if (s.stop_requested && !quiet_id) {
            auto sent = s.client.send(proto::WorkerQuietRequest{});
            if (!sent) {
                failed = sent.error();
                break;
            }
            quiet_id = *sent;
        }
        if (Clock::now() >= next_beat) {
            s.outbox.push_back(proto::PingRequest{});
            next_beat = Clock::now() + beat;
        }
        for (auto& body : std::exchange(s.outbox, {})) {
            if (auto sent = s.client.send(std::move(body)); !sent) {
                failed = sent.error();
                break;
            }
        }
        if (failed || (quiet && s.running.empty())) {
            break;
        }
        auto line = conn.read_line(next_beat);
        if (!line) {
            if (line.error().kind != ClientError::Kind::timeout) {
                failed = line.error();
            }
            continue;
        }
        auto event = line->value("event", "");
        if (quiet_id && event.empty() && line->value("id", std::int64_t{0}) == *quiet_id) {
            quiet = true;
        } else if (event == "job.assign") {
            s.assign(line->value("job", json::object()));
        } else if (event == "job.cancel") {
            if (auto it = s.running.find(line->value("job", "")); it != s.running.end()) {
                it->second->cancel();
            }
        }
        // Replies need nothing: a report on a job that ended meanwhile gets
        // not_assigned, which changes nothing.
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
