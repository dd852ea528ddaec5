#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "daemon/base/soonest_timer.hpp"
#include "daemon/sched/job_observer.hpp"
#include "daemon/sched/job_store.hpp"
#include "job_fields.hpp"
#include "redis_connection.hpp"
#include "redis_script.hpp"
#include "redis_url.hpp"

namespace taskpool::daemon::tasks {
class TaskRegistry;
}

namespace taskpool::daemon::cluster {

/// Cluster-wide counts, for `stats`.
struct ClusterCounts {
    std::uint64_t submitted = 0, scheduled = 0, waiting = 0, running = 0, succeeded = 0, failed = 0,
                  cancelled = 0;
    std::array<std::uint64_t, proto::pool_count> queued{};
    std::array<bool, proto::pool_count> paused{};
    std::uint64_t kv_keys = 0, kv_bytes = 0;
    struct Node {
        std::string id, addr, pools;  // pools: JSON text
        proto::Timestamp started_at, last_seen;
    };
    std::vector<Node> nodes;
};

/// The job store of cluster mode (PROTOCOL.md section 15): every job in Redis,
/// shared by the daemons that use the same Redis and `cluster.name`, each of them
/// a node. Changes that touch several keys are Lua scripts (lua/*.lua); the
/// changes of one turn of the io thread go out together, one script call per
/// kind, in one write.
///
/// A node keeps in memory only the records it needs: the jobs it has claimed
/// (handed to its pools, or running), jobs with waiters here, and jobs in the
/// middle of a call; the rest are dropped at the end of the turn. A pool with room
/// claims jobs with want_runnable(); a node that finds a queue empty is woken by a
/// message when a job is queued there, so nothing polls.
///
/// Jobs due later wait in one sorted set, by when they are due. Every node sets
/// one timer for the next of them, as the scripts tell it (when a job becomes the
/// next one, and with each heartbeat); the first whose timer fires moves what is
/// due to its queue, so the cluster's timers go on while any node does.
///
/// Events cross nodes on one channel: each node publishes its jobs' events (it is
/// a JobObserver) and relays the others' to its subscribers. A job cancelled
/// elsewhere, or whose end another node wrote, is told to the scheduler.
class RedisJobStore final : public sched::JobStore, public sched::JobObserver {
public:
    using JobRecord = sched::JobRecord;
    struct Settings {
        RedisUrl url;
        std::string name = "taskpool";  // cluster.name
        std::chrono::milliseconds lease{std::chrono::seconds(10)};
        std::size_t queue_max_size = 100000;
        std::chrono::milliseconds ttl{std::chrono::hours(1)};
        std::size_t max_retained = 100000;
        std::size_t max_retained_bytes = std::size_t{1} << 30;
        std::string addr;  // where this node listens, for stats
    };
    /// What the store tells the daemon of other nodes' doings, on the io thread.
    struct Events {
        /// A record here stands for a job another node ended (or cancelled while
        /// this node ran it): the record holds the end.
        std::function<void(sched::JobRecord&, proto::Job ended)> ended_elsewhere;
        /// Jobs were claimed, or a queue this node waits on has jobs: dispatch.
        std::function<void()> work;
        /// This node ended a job no record here ran (it failed a lost node's job).
        std::function<void(sched::JobRecord&, const Ended&)> ended_here;
        /// Another node's event, its line as subscribers get it.
        std::function<void(char kind, std::string_view id, const std::string& line)> relay;
        /// A remote worker on another node serves this task.
        std::function<void(const std::string& name, const std::string& description)> task_known;
        /// Redis cannot be reached: waiters here are answered with the jobs as last
        /// known (until it is back, nothing ends here for them).
        std::function<void()> down;
        /// This node's pools, as JSON text, for `stats.cluster.nodes`.
        std::function<std::string()> pools;
        /// A map's follow-up that the node that ended the map did not submit within
        /// a lease: this node submits it.
        std::function<void(sched::JobStore::FollowUp)> follow_up;
        /// Schedules read again after a change by any node (this one's own
        /// included, in the order Redis made them) or a reconnection: those `named`
        /// (none named: all) are as `found` has them, or gone.
        std::function<void(const std::vector<std::string>& named,
                           std::vector<proto::ScheduleInfo> found)>
            schedules_read;
    };

    RedisJobStore(asio::io_context& io, const tasks::TaskRegistry& tasks, Settings settings);
    ~RedisJobStore() override;
    void set_events(Events events) { events_ = std::move(events); }
    /// Connects and joins the cluster; `done` gets `unavailable` when Redis
    /// cannot be reached or refuses.
    void start(std::function<void(proto::Result<void>)> done);
    /// Leaves the cluster: the jobs it still claims go back to their queues, and
    /// `done` runs once Redis has it (or could not be told).
    void leave(std::function<void()> done);
    /// Closes the connections: what is pending fails with `unavailable` now, while
    /// those it calls back still are.
    void close();
    const std::string& node() const { return node_; }
    const std::string& name() const { return settings_.name; }
    std::string url_shown() const { return settings_.url.shown(); }
    /// Whether Redis can be reached now.
    bool up() const;
    /// Runs `ready` once this node is among those that hear every job's lines
    /// (where it stays while it renews its lease): the scripts publish a job's
    /// job.started and job.finished only where some node does, or where a node
    /// other than the one that ran it holds it. Before a subscriber, watch or
    /// event stream starts here, so that no line of theirs goes unpublished.
    void hear(base::Callback<void()> ready);

    /// A remote worker here serves this task: every node accepts its jobs from
    /// now on, and from when it starts.
    void task_known(const std::string& name, const std::string& description);

    /// For what else keeps state in Redis (kv): a key of this cluster, and a
    /// script or a command sent after what this turn has written.
    std::string key(std::string_view suffix) const { return prefix_ + std::string(suffix); }
    void script(const RedisScript& script, std::vector<std::string> args,
                RedisConnection::Handler on_reply) {
        call(script, std::move(args), std::move(on_reply));
    }
    void command(const std::vector<std::string>& args, RedisConnection::Handler on_reply);

    using Counted = base::Callback<void(proto::Result<ClusterCounts>)>;
    void counts(Counted counted);
    using SchedulesRead = std::function<void(proto::Result<std::vector<proto::ScheduleInfo>>)>;
    /// The cluster's recurring schedules, for a node that starts.
    void schedules(SchedulesRead read);

    // sched::JobStore
    void add(std::span<JobRecord> records, Added added) override;
    bool adding_key(std::string_view) const override { return false; }
    std::size_t adding(proto::PoolKind pool) const override {
        return adding_[static_cast<std::size_t>(pool)];
    }
    std::vector<JobRecord*> restore(std::vector<sched::StoredJob>) override { return {}; }
    void lookup(std::span<const std::string> ids, Found found) override;
    void list(const proto::ListRequest& query, Listed listed) override;
    JobRecord* find(std::string_view id) override;
    JobRecord* find_by_seq(std::uint64_t seq) override;
    JobRecord* find_by_key(std::string_view) override { return nullptr; }
    void newest_first(const std::function<bool(JobRecord&)>& visit) override;
    void make_runnable(JobRecord& r) override;
    // Cluster mode has no named queues yet: jobs naming one are refused, so the
    // gate has nothing to hold.
    JobRecord* take_runnable(proto::PoolKind pool, sched::QueueGate& gate) override;
    JobRecord* take_runnable(proto::PoolKind pool, std::span<const std::string_view> tasks,
                             sched::QueueGate& gate) override;
    void want_runnable(proto::PoolKind pool, std::optional<std::vector<std::string_view>> tasks,
                       std::size_t idle, std::size_t room) override;
    void withdraw_runnable(const JobRecord&) override {}
    std::size_t runnable(proto::PoolKind) const override { return 0; }
    std::size_t runnable_in(std::string_view) const override { return 0; }
    std::size_t runnable_in(std::string_view, proto::PoolKind) const override { return 0; }
    void started(const JobRecord& r) override;
    void progressed(const JobRecord& r) override;
    void requeued(const JobRecord& r) override;
    void returned(const JobRecord& r) override;
    /// Never asked: the scheduler refuses `after` in cluster mode for now.
    void released(const JobRecord& /*r*/) override {}
    void retried(JobRecord& /*r*/) override {}  // retry() instead
    void retry(const std::string& id, Retried retried) override;
    void finished(const JobRecord& r, Durable durable) override;
    void cancel(JobRecord& r, Cancelled cancelled) override;
    void retain(JobRecord& r) override;
    void waited_on(JobRecord& r) override;
    void schedule_kept(const proto::ScheduleInfo& schedule) override;
    void schedule_advanced(std::string_view name, proto::Timestamp from,
                           std::optional<proto::Timestamp> next_at) override;
    void schedule_removed(std::string_view name) override;
    std::optional<sched::SteadyTime> next_expiry() const override { return std::nullopt; }
    void expire(sched::SteadyTime) override {}
    void when_durable(base::Callback<void()> f) override;
    bool durable() const override { return true; }
    bool shared() const override { return true; }
    proto::Error unavailable(std::string_view consequence) const override;

    // sched::JobObserver: this node's events, for the others.
    void job_started(const proto::Job& job) override;
    void job_finished(const proto::Job& job) override;
    void job_progress(const proto::Job& job) override;
    void batch_finished(const std::string& batch, const proto::BatchEnd& end) override;

private:
    /// A job's start, as started() writes it: its job.started, and its fields and
    /// values.
    struct Start {
        std::string message;
        std::vector<std::string> fields;
    };
    struct Held;
    struct Scripts;
    /// Calls of one kind made during a turn, sent as one script call.
    struct Pending {
        std::vector<std::string> args;
        std::vector<base::Callback<void(proto::Result<RedisReply>)>> replies;
    };

    void call(const RedisScript& script, std::vector<std::string> args,
              RedisConnection::Handler on_reply);
    /// The connection, once what this turn has written so far is on its way: a
    /// command made now comes after it (a read sees it; an event follows it).
    RedisConnection& ordered();
    /// Sends what this turn made, once it is over.
    void send_later();
    void send();
    void flush(const RedisScript& script, Pending& pending, std::vector<std::string> head);
    /// Opens both connections and joins (`join`), or comes back (`renew`).
    void connect(std::string_view how, std::function<void(proto::Result<void>)> done);
    /// A connection ended: requests get `unavailable`, and it connects again.
    void lost(proto::Error why);
    void reconnect_later(std::chrono::milliseconds after);
    /// After a reconnection: claims in Redis this node does not hold go back.
    void give_back_unknown_claims();
    void close_connections();
    void heartbeat(std::string_view how, std::function<void(proto::Result<void>)> done);
    void arm_heartbeat();
    /// Another node found this one's lease run out: its claims are void.
    void lease_lost();
    /// Jobs a script ended besides those it was asked to (a lost node's, or those
    /// that waited for a job that failed): from `from` on, an id and its batch's
    /// counts or '' each, announced from here.
    void announce_ended(const RedisReply& reply, std::size_t from);

    Held* held(const JobRecord& r);
    /// The record of a job read from Redis: the held one, brought up to date unless
    /// this node's copy is newer, or a new one, dropped at the end of the turn
    /// unless something keeps it. `claimed`: read from a take, its claim this node's.
    Held* hold(ReadJob read, bool claimed);
    /// The held copy of a job a take claimed, where it is as Redis has it (its
    /// `attempts` as the take read them), else null.
    Held* fresh_copy(const std::string& id, std::string_view attempts);
    /// Reads the jobs a take claimed that this node holds no fresh copy of, then
    /// calls `done`.
    void read_claimed(std::size_t pool, std::vector<std::string> ids, std::function<void()> done);
    void release_later(Held* h);
    void sweep();
    /// Reads jobs from Redis, but those this node's copy is the newest of.
    void read_jobs(std::vector<std::string> ids, Found found);
    /// A claim goes back to its queue (`retry`: one retry fewer; `return`: as it
    /// was), or to the due set until its back-off ends (`due`).
    void give_back(Held& h, std::string_view why, int attempts,
                   std::optional<proto::Timestamp> due = std::nullopt);
    /// The next scheduled job is due in `ms` (-1: none is): the timer is set for it
    /// unless it is set sooner.
    void due_in(std::int64_t ms);
    /// Moves what is due to its queues.
    void move_due();
    /// Writes a start that started() held back (Held::start), now.
    void write_start(Held& h, Start start);
    void write_held_start(Held& h);
    void write_held_start(std::string_view id);
    void write_held_starts();
    /// A lane held back by its rate limit gets a token in `ms` (-1: none is held):
    /// this node tries its queues again then, unless it is set to sooner.
    void held_by_rate(std::int64_t ms);

    /// What a node publishes: `<node> <kind> <id>\n<line>`.
    std::string message(char kind, std::string_view id, std::string_view line) const;
    void publish(char kind, std::string_view id, const std::string& line);
    void on_message(std::string_view message);
    void on_event(std::string_view header, std::string_view line);
    /// Reads a held job another node ended, and tells the scheduler.
    void refresh(const std::string& id);
    /// Reads schedules (none named: all) as the `schedule` script answers `read`.
    void read_schedules(std::vector<std::string> names, SchedulesRead read);
    /// Reads schedules again (none named: all), and tells the daemon.
    void refresh_schedules(std::vector<std::string> names);

    asio::io_context& io_;
    const tasks::TaskRegistry& tasks_;
    Settings settings_;
    std::string prefix_;  // tp:{name}:
    std::string node_;
    std::string started_at_;
    std::string run_id_;  // Redis's, as read at connect
    std::unique_ptr<Scripts> scripts_;
    Events events_;
    std::shared_ptr<RedisConnection> redis_;
    std::shared_ptr<RedisConnection> events_in_;
    asio::steady_timer heartbeat_timer_;
    asio::steady_timer retry_timer_;  // connecting again, after a back-off
    base::SoonestTimer due_timer_;    // the next scheduled job
    static constexpr std::size_t due_per_call = 1000;
    base::SoonestTimer token_timer_;        // a rate-limited lane's next token
    base::SoonestTimer start_timer_;        // starts held back are written
    std::vector<std::string> held_starts_;  // the ids of jobs whose start is held back
    static constexpr std::chrono::milliseconds max_reconnect_wait{2000};
    std::uint64_t generation_ = 0;  // of the connections: a closed older one is old news
    bool reconnecting_ = false;
    /// Ends written while Redis is away wait for it, up to this many.
    static constexpr std::size_t max_unwritten_ends = 10000;

    std::unordered_map<std::string, std::unique_ptr<Held>> by_id_;
    std::unordered_map<std::uint64_t, Held*> by_seq_;
    std::uint64_t next_seq_ = 1;
    std::vector<std::uint64_t> releasing_;
    bool sweep_posted_ = false;

    std::array<std::size_t, proto::pool_count> adding_{};
    std::array<std::deque<Held*>, proto::pool_count> claimed_;
    std::array<bool, proto::pool_count> taking_{};
    std::array<bool, proto::pool_count> deep_{};  // the last take filled its max
    // How long runs take on each pool, about (a moving average); unknown: long.
    static constexpr double short_run_ms = 20;
    std::array<double, proto::pool_count> typical_run_ms_{1000, 1000, 1000};
    std::set<std::string, std::less<>> idle_;  // queues found empty, not woken since
    std::uint64_t next_take_ = 1;
    std::uint64_t wakes_ = 0;  // wake messages so far
    bool stopping_ = false;
    std::unordered_map<std::string, int> reading_;  // ids being read: a `F` meanwhile
    std::set<std::string, std::less<>> reread_;     // makes the read go again

    /// Schedules moved on this turn: sent with the job of their firing, or alone.
    struct Advance {
        proto::Timestamp from;
        std::optional<proto::Timestamp> next_at;
    };
    std::map<std::string, Advance, std::less<>> advances_;
    std::uint64_t schedule_writes_ = 0;  // schedules this node set or removed

    Pending submits_, started_, requeued_, finished_;
    bool send_posted_ = false;

    bool hears_ = false;  // among the nodes that hear every line, or on its way
    std::vector<base::Callback<void()>> hearing_;  // until Redis has it
};

}  // namespace taskpool::daemon::cluster
