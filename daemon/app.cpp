// The daemon's wiring and its one shutdown sequence.
//
// Everything but the task threads runs on one io thread: sessions, the scheduler,
// timers and signals, so none of that state needs a lock. Task threads post their
// outcomes back to it.
//
// Shutdown (a `shutdown` op or a signal; SIGTERM drains, SIGINT or a second SIGTERM
// stops now): the scheduler refuses new jobs and drains, or stops what runs (with a
// journal the queue stays for the restart, without one it is cancelled); a drain
// that outlasts shutdown.drain_timeout_s turns into `now`. Once no job is running
// (nor queued, but for a queue kept), the listener closes, every connection flushes its replies and
// closes, the io loop stops, the task threads are joined, and the journal commits what is left.
#include "app.hpp"

#include <unistd.h>

#include <csignal>
#include <memory>

#include <spdlog/spdlog.h>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "cluster/redis_job_store.hpp"
#include "cluster/redis_kv.hpp"
#include "cluster/redis_queues.hpp"
#include "config/config_reload.hpp"
#include "conn/connection_registry.hpp"
#include "events/event_log.hpp"
#include "events/subscriptions.hpp"
#include "events/webhooks.hpp"
#include "kv/kv_store.hpp"
#include "metrics/job_metrics.hpp"
#include "metrics/stats_history.hpp"
#include "net/listener.hpp"
#include "net/open_file_limit.hpp"
#include "net/tls_context.hpp"
#include "ops/dispatcher.hpp"
#include "ops/probes.hpp"
#include "ops/services.hpp"
#include "pools/child_reaper.hpp"
#include "pools/process_pool.hpp"
#include "pools/remote_pool.hpp"
#include "pools/thread_pool.hpp"
#include "proto/version.hpp"
#include "sched/scheduler.hpp"
#include "sched/schedules.hpp"
#include "service_notify.hpp"
#include "store/journal.hpp"
#include "store/local_job_store.hpp"
#include "tasks/registry.hpp"

namespace taskpool::daemon {
namespace {

using proto::ShutdownMode;

// How long connections get to take their last replies before the loop stops.
constexpr auto close_grace = std::chrono::seconds(2);

/// Resolves "HOST:PORT" to one endpoint; throws with a clear message.
asio::ip::tcp::endpoint resolve_listen(asio::io_context& io, const std::string& listen) {
    auto colon = listen.rfind(':');
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    asio::ip::tcp::resolver resolver(io);
    auto results =
        resolver.resolve(host, listen.substr(colon + 1), asio::ip::tcp::resolver::numeric_service);
    return results.begin()->endpoint();
}

class ShutdownSequence {
public:
    ShutdownSequence(asio::io_context& io, const Config& config, sched::Scheduler& scheduler,
                     net::Listener& listener, conn::ConnectionRegistry& connections,
                     cluster::RedisJobStore* cluster)
        : io_(io),
          config_(config),
          scheduler_(scheduler),
          listener_(listener),
          connections_(connections),
          cluster_(cluster),
          drain_timer_(io),
          close_timer_(io) {}

    void begin(ShutdownMode mode) {
        if (stopping_ || (draining_ && mode == ShutdownMode::drain)) {
            return;
        }
        bool now = mode == ShutdownMode::now;
        // With a journal a stop decides nothing for the user: the queue waits for
        // the restart (PROTOCOL.md section 5). In a cluster it waits for the others.
        bool kept = config_.store.path.has_value();
        spdlog::info("shutting down: {}",
                     cluster_ != nullptr
                         ? (now ? "stopping running jobs; they go back to the cluster's queue"
                                : "finishing queued and running jobs of this node; the cluster's "
                                  "queue waits for the other nodes")
                     : !now ? "finishing queued and running jobs"
                     : kept ? "stopping running jobs; they and the queued ones stay queued in "
                              "the journal"
                            : "cancelling queued and running jobs");
        if (!draining_) {
            notify_service_manager("STOPPING=1");
        }
        draining_ = true;
        scheduler_.begin_shutdown(now, [this] { stop(); });
        if (!now) {
            drain_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::duration<double>(config_.shutdown.drain_timeout_s)));
            drain_timer_.async_wait([this](std::error_code ec) {
                if (!ec && !stopping_) {
                    spdlog::warn(
                        "drain took longer than {} s (shutdown.drain_timeout_s); "
                        "stopping now",
                        config_.shutdown.drain_timeout_s);
                    begin(ShutdownMode::now);
                }
            });
        }
    }

private:
    void stop() {
        if (stopping_) {
            return;
        }
        stopping_ = true;
        drain_timer_.cancel();
        listener_.close();
        close_timer_.expires_after(close_grace);
        close_timer_.async_wait([this](std::error_code ec) {
            if (!ec) {
                io_.stop();
            }
        });
        if (cluster_ != nullptr) {
            cluster_->leave([this] { connections_.close_all([this] { io_.stop(); }); });
        } else {
            connections_.close_all([this] { io_.stop(); });
        }
    }

    asio::io_context& io_;
    const Config& config_;
    sched::Scheduler& scheduler_;
    net::Listener& listener_;
    conn::ConnectionRegistry& connections_;
    cluster::RedisJobStore* cluster_;
    asio::steady_timer drain_timer_;
    asio::steady_timer close_timer_;
    bool draining_ = false;
    bool stopping_ = false;
};

/// What would leave a daemon on a non-loopback address open to anyone who can
/// reach it, and what to set instead; none where nothing would (PROTOCOL.md
/// section 14: TLS and a token, or client certificates, unless --insecure).
std::optional<std::string> open_to_anyone(const Config& config) {
    if (config.insecure) {
        return std::nullopt;
    }
    bool tls = config.tls.enabled();
    bool credential = config.auth.required() || config.tls.client_ca.has_value();
    const std::string set_tls = "tls.cert and tls.key (TASKPOOL_TLS_CERT, TASKPOOL_TLS_KEY)";
    const std::string set_token = "auth.token (TASKPOOL_TOKEN), auth.tokens or tls.client_ca";
    const std::string otherwise = "; or pass --insecure on a network you trust";
    if (!tls && !credential) {
        return "without TLS and a token: set " + set_tls + ", and " + set_token + otherwise;
    }
    if (!tls) {
        return "without TLS: set " + set_tls + otherwise;
    }
    if (!credential) {
        return "without a token: set " + set_token + otherwise;
    }
    return std::nullopt;
}

/// The TLS context for `tls`, read from its files again; none where TLS is off.
proto::Result<std::shared_ptr<asio::ssl::context>, std::string> reload_tls(const Config::Tls& tls) {
    if (!tls.enabled()) {
        return std::shared_ptr<asio::ssl::context>();
    }
    return net::make_tls_context(tls);
}

/// SIGHUP reloads what can change while the daemon runs; SIGUSR1, SIGUSR2 and
/// SIGALRM mean nothing to it. None of them is ever fatal (PROTOCOL.md section 5).
void watch_other_signals(asio::signal_set& signals, Config& config, const ConfigReloader& reload,
                         net::Listener& listener, bool public_listener) {
    signals.async_wait([&, public_listener](std::error_code ec, int signo) {
        if (ec) {
            return;
        }
        if (signo != SIGHUP) {
            spdlog::info("received {}; ignored: it means nothing to taskpoold",
                         signo == SIGUSR1   ? "SIGUSR1"
                         : signo == SIGUSR2 ? "SIGUSR2"
                                            : "SIGALRM");
        } else if (auto fresh = reload(); !fresh) {
            spdlog::error("SIGHUP: the config was not reloaded: {}", fresh.error().message);
        } else if (auto open = public_listener ? open_to_anyone(*fresh) : std::nullopt) {
            spdlog::error(
                "SIGHUP: the config was not reloaded: {} is not a loopback address, "
                "and the config would leave it {}",
                config.listen, *open);
        } else if (fresh->tls.enabled() != config.tls.enabled()) {
            spdlog::error("SIGHUP: the config was not reloaded: turning TLS {} takes a restart",
                          fresh->tls.enabled() ? "on" : "off");
        } else if (auto tls = reload_tls(fresh->tls); !tls) {
            spdlog::error("SIGHUP: the config was not reloaded: {}", tls.error());
        } else {
            listener.set_tls_context(std::move(*tls));  // for connections from now on
            auto done = reload_config(config, *fresh);
            auto list = [](const std::vector<std::string>& keys) {
                std::string text;
                for (const auto& k : keys) {
                    text += (text.empty() ? "" : ", ") + k;
                }
                return text;
            };
            spdlog::info("SIGHUP: config reloaded; {}{}",
                         done.applied.empty() ? "nothing it may change did"
                                              : "changed: " + list(done.applied),
                         done.need_restart.empty()
                             ? ""
                             : "; these take a restart: " + list(done.need_restart));
        }
        watch_other_signals(signals, config, reload, listener, public_listener);
    });
}

void watch_signals(asio::signal_set& signals, ShutdownSequence& shutdown, int sigterms = 0) {
    signals.async_wait([&signals, &shutdown, sigterms](std::error_code ec, int signo) {
        if (ec) {
            return;
        }
        int terms = sigterms + (signo == SIGTERM ? 1 : 0);
        spdlog::info("received {}", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        shutdown.begin(signo == SIGTERM && terms == 1 ? ShutdownMode::drain : ShutdownMode::now);
        watch_signals(signals, shutdown, terms);
    });
}

/// "HOST:PORT" as clients would write it (IPv6 in brackets).
std::string address_text(const asio::ip::tcp::endpoint& endpoint) {
    std::string host = endpoint.address().to_string();
    if (endpoint.address().is_v6()) {
        host = "[" + host + "]";
    }
    return host + ":" + std::to_string(endpoint.port());
}

/// The user that workers and commands run as: process_pool.user when the daemon
/// is root. False (after logging why) when that user does not exist.
bool resolve_worker_user(const Config& config, std::optional<std::string>& user,
                         std::optional<tasks::Credentials>& credentials) {
    user = config.process_pool.user;
    if (!user) {
        return true;
    }
    credentials = tasks::credentials_of(*user);
    if (!credentials) {
        spdlog::error("process_pool.user: no user named '{}'", *user);
        return false;
    }
    if (::geteuid() != 0) {
        spdlog::warn("process_pool.user '{}' is ignored: taskpoold does not run as root", *user);
        user.reset();
        credentials.reset();
    }
    return true;
}

/// Opens store.path and reads it back; none without a path. Throws, naming the
/// file, when it cannot be used.
std::unique_ptr<store::Journal> open_journal(asio::io_context& io, const Config& config,
                                             store::Restored& restored) {
    if (!config.store.path) {
        return nullptr;
    }
    auto journal = std::make_unique<store::Journal>(
        io, *config.store.path,
        config.store.sync == "full" ? store::Sync::full : store::Sync::normal);
    restored = journal->restore();
    return journal;
}

void log_restored(const store::Journal& journal, const store::Restored& restored) {
    std::size_t unfinished = 0;
    for (const auto& job : restored.jobs) {
        unfinished += proto::is_final(job.job.state) ? 0 : 1;
    }
    spdlog::info(
        "journal {}: {} jobs ({} not finished), {} kv keys, {} webhook deliveries, {} remote tasks",
        journal.path(), restored.jobs.size(), unfinished, restored.kv.size(),
        restored.deliveries.size(), restored.remote_tasks.size());
}

pools::RemotePool::Settings remote_pool_settings(const Config& config) {
    auto seconds = [](double s) {
        return std::chrono::duration_cast<pools::RemotePool::Clock::duration>(
            std::chrono::duration<double>(s));
    };
    return {seconds(config.workers.heartbeat_s), seconds(config.workers.cancel_grace_s)};
}

std::chrono::milliseconds result_ttl(const Config& config) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(config.jobs.result_ttl_s * 1000));
}

store::LocalJobStore::Settings job_store_settings(const Config& config) {
    return {result_ttl(config), static_cast<std::size_t>(config.jobs.max_retained),
            static_cast<std::size_t>(config.jobs.max_retained_bytes)};
}

cluster::RedisJobStore::Settings cluster_store_settings(const Config& config) {
    return {*cluster::RedisUrl::parse(*config.cluster.redis),
            config.cluster.name,
            std::chrono::milliseconds(static_cast<std::int64_t>(config.cluster.lease_s * 1000)),
            static_cast<std::size_t>(config.queue.max_size),
            result_ttl(config),
            static_cast<std::size_t>(config.jobs.max_retained),
            static_cast<std::size_t>(config.jobs.max_retained_bytes),
            config.listen};
}

/// Runs the io loop until `start`'s callback has answered, before the daemon serves.
template <class Answer, class Start>
std::optional<Answer> answer_of(asio::io_context& io, Start start) {
    std::optional<Answer> answer;
    start([&answer](Answer a) { answer = std::move(a); });
    while (!answer && io.run_one() > 0) {
    }
    io.restart();
    return answer;
}

/// Connects the cluster store to the scheduler, to `relayed` (what hears every
/// node's events back from Redis: subscribers, event streams) and to the
/// schedules, joins the cluster and reads its schedules (running the io loop until Redis has
/// answered). None if it cannot.
std::optional<std::vector<proto::ScheduleInfo>> join_cluster(
    asio::io_context& io, cluster::RedisJobStore& store, sched::Scheduler& scheduler,
    sched::Schedules& schedules, std::vector<sched::JobObserver*> relayed,
    tasks::TaskRegistry& tasks, const pools::ThreadPool& threads,
    const pools::ProcessPool& processes) {
    store.set_events(
        {[&scheduler](sched::JobRecord& r, proto::Job ended) {
             scheduler.ended_elsewhere(r, std::move(ended));
         },
         [&scheduler] { scheduler.capacity_changed(); },
         [&scheduler](sched::JobRecord& r, const sched::JobStore::Ended& ended) {
             scheduler.announce_end(r, ended);
         },
         [relayed = std::move(relayed)](char kind, std::string_view id, const std::string& line) {
             for (auto* observer : relayed) {
                 observer->relay(kind, id, line);
             }
         },
         [&tasks](const std::string& name, const std::string& description) {
             if (auto added = tasks.add_remote(name, description); !added) {
                 spdlog::warn("cluster: remote task {}: {}", name, added.error());
             }
         },
         [&scheduler] { scheduler.answer_waiters_now(); },
         [&threads, &processes] {
             return nlohmann::json{{"thread", threads.size()}, {"process", processes.size()}}
                 .dump();
         },
         [&scheduler](sched::JobStore::FollowUp follow) {
             if (auto id = scheduler.follow_up(follow); !id) {
                 spdlog::warn("cluster: the follow-up of map {} was refused: {}", follow.batch,
                              id.error().message);
             }
         },
         [&schedules](const std::vector<std::string>& named,
                      std::vector<proto::ScheduleInfo> found) {
             schedules.adopt(named, std::move(found));
         }});
    auto joined = answer_of<proto::Result<void>>(
        io, [&store](auto answer) { store.start(std::move(answer)); });
    auto kept = joined && *joined
                    ? answer_of<proto::Result<std::vector<proto::ScheduleInfo>>>(
                          io, [&store](auto answer) { store.schedules(std::move(answer)); })
                    : std::nullopt;
    if (!joined || !*joined || !kept || !*kept) {
        spdlog::error("cluster.redis: {}", joined && !*joined ? joined->error().message
                                           : kept && !*kept   ? kept->error().message
                                                              : "the connection to Redis ended");
        return std::nullopt;
    }
    spdlog::info("cluster {}: joined as node {} on {}", store.name(), store.node(),
                 store.url_shown());
    return std::move(**kept);
}

/// Binds the listen address, or says why not and returns none.
std::unique_ptr<net::Listener> open_listener(asio::io_context& io, const Config& config,
                                             ops::Dispatcher& dispatcher,
                                             conn::ConnectionRegistry& connections) {
    // Each connection is a descriptor; the pools, the journal and command tasks'
    // pipes take a few hundred more at most.
    net::raise_open_file_limit(static_cast<std::size_t>(config.limits.max_connections) + 256);
    try {
        auto endpoint = resolve_listen(io, config.listen);
        if (auto open = endpoint.address().is_loopback() ? std::nullopt : open_to_anyone(config)) {
            spdlog::error("refusing to listen on {} {}", config.listen, *open);
            return nullptr;
        }
        auto tls = reload_tls(config.tls);
        if (!tls) {
            spdlog::error("cannot serve TLS: {}", tls.error());
            return nullptr;
        }
        auto listener =
            std::make_unique<net::Listener>(io, endpoint, config, dispatcher, connections);
        listener->set_tls_context(std::move(*tls));
        return listener;
    } catch (const std::system_error& e) {
        spdlog::error("cannot listen on {}: {}", config.listen, e.code().message());
        return nullptr;
    }
}

/// What the journal held goes back where it was: kv values, webhook deliveries, jobs.
void take_back(store::Journal& journal, store::Restored restored, kv::KvStore& kv,
               events::Webhooks& webhooks, tasks::TaskRegistry& tasks,
               sched::Scheduler& scheduler) {
    log_restored(journal, restored);
    journal.start();
    // Remote tasks are known again, as are those of the jobs kept: their jobs wait
    // for a worker to serve them. A local task of that name keeps it.
    for (const auto& [name, description] : restored.remote_tasks) {
        (void)tasks.add_remote(name, description);
    }
    for (const auto& stored : restored.jobs) {
        const auto& name = stored.job.task;
        if (stored.job.pool == proto::PoolKind::remote && tasks.find(name) == nullptr) {
            // Known by its jobs alone (a journal of format 3): into the table, so
            // that it is still known once they have expired.
            (void)tasks.add_remote(name, "");
            journal.append(store::write::RemoteTaskKnown{name, ""});
        }
    }
    kv.restore(std::move(restored.kv));
    for (auto& delivery : restored.deliveries) {
        webhooks.resume(std::move(delivery));
    }
    // What ops set at run time, over the config's.
    for (const auto& q : restored.queues) {
        scheduler.restore_queue(q.limits, q.paused);
    }
    for (auto pool : restored.paused_pools) {
        scheduler.restore_paused_pool(pool);
    }
    scheduler.restore(std::move(restored.jobs));
}

}  // namespace

int run(Config& config, const ConfigReloader& reload) {
    asio::io_context io(1);

    std::optional<std::string> worker_user;
    std::optional<tasks::Credentials> command_user;
    if (!resolve_worker_user(config, worker_user, command_user)) {
        return 1;
    }

    store::Restored restored;
    std::unique_ptr<store::Journal> journal;
    try {
        journal = open_journal(io, config, restored);
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return 1;
    }

    // Filled once the listener is bound: command tasks are told its address.
    tasks::TaskRegistry tasks;
    events::Subscriptions events;
    events::EventLog event_log(io);
    metrics::JobMetrics job_metrics;
    std::optional<store::LocalJobStore> local_jobs;
    std::optional<cluster::RedisJobStore> cluster_jobs;
    std::optional<cluster::RedisKv> cluster_kv;
    std::optional<cluster::RedisQueues> cluster_queues;
    std::vector<sched::JobObserver*> observers{&job_metrics};
    if (config.cluster.redis) {
        cluster_jobs.emplace(io, tasks, cluster_store_settings(config));
        cluster_kv.emplace(*cluster_jobs, static_cast<std::size_t>(config.kv.max_bytes));
        cluster_queues.emplace(*cluster_jobs);
        // Events go through Redis, and come back to this node's subscribers from
        // there with every other node's, in one order.
        observers.push_back(&*cluster_jobs);
    } else {
        observers.push_back(&events);
        observers.push_back(&event_log);
        local_jobs.emplace(job_store_settings(config), journal.get());
    }
    sched::JobStore& jobs =
        cluster_jobs ? static_cast<sched::JobStore&>(*cluster_jobs) : *local_jobs;
    sched::Scheduler scheduler(
        io, tasks, jobs,
        {static_cast<std::size_t>(config.queue.max_size), config.jobs.default_timeout_s,
         config.retries.backoff_s, config.retries.max_backoff_s},
        std::move(observers));
    for (const auto& [name, limits] : config.queues) {
        scheduler.restore_queue({name, limits.max_concurrency, limits.rate_limit}, false);
    }

    events::Webhooks webhooks({static_cast<int>(config.callbacks.max_attempts),
                               config.callbacks.backoff_s, config.callbacks.timeout_s,
                               config.callbacks.secret});
    scheduler.set_callback_sink(&webhooks);

    conn::ConnectionRegistry connections;
    kv::KvStore kv(static_cast<std::size_t>(config.kv.max_bytes));
    if (journal) {
        webhooks.set_journal(journal.get());
        kv.set_journal(journal.get());
    }
    std::function<void(ShutdownMode)> begin_shutdown;
    pools::RemotePool remote(io, remote_pool_settings(config), scheduler.run_events());
    scheduler.set_executor(proto::PoolKind::remote, &remote);
    sched::Schedules schedules(io, scheduler, jobs);
    ops::Services services{config,
                           scheduler,
                           schedules,
                           tasks,
                           remote,
                           events,
                           event_log,
                           connections,
                           kv,
                           webhooks,
                           job_metrics,
                           journal.get(),
                           cluster_jobs ? &*cluster_jobs : nullptr,
                           cluster_kv ? &*cluster_kv : nullptr,
                           cluster_queues ? &*cluster_queues : nullptr,
                           [&begin_shutdown](ShutdownMode mode) { begin_shutdown(mode); },
                           std::chrono::steady_clock::now()};
    metrics::StatsHistory history(
        io, [&services](auto done) { ops::sample_totals(services, std::move(done)); });
    services.history = &history;
    ops::Dispatcher dispatcher(services);

    auto listener = open_listener(io, config, dispatcher, connections);
    if (!listener) {
        return 1;
    }
    auto local = listener->local_endpoint();

    tasks::TaskSetup setup{config.test_tasks, config.tasks, config.plugins, address_text(local),
                           command_user};
    if (auto registered = tasks::register_tasks(tasks, setup); !registered) {
        spdlog::error("{}", registered.error());
        return 1;
    }
    for (const auto& [name, description] : config.remote_tasks) {
        if (auto added = tasks.add_remote(name, description); !added) {
            spdlog::error("tasks.{}: {}", name, added.error());
            return 1;
        }
    }
    for (const auto& [name, queue] : config.task_queues) {
        (void)tasks.set_queue(name, queue);  // each a task of the config, just registered
    }
    setup.command_user.reset();  // workers have already become that user

    pools::ThreadPool threads(io, config.thread_count(), scheduler.run_events());
    scheduler.set_executor(proto::PoolKind::thread, &threads);
    pools::ChildReaper reaper(io);
    pools::ProcessPool processes(
        io, reaper,
        pools::ProcessPool::Settings{config.process_count(),
                                     config.process_pool.max_jobs_per_worker,
                                     config.process_pool.memory_limit_mb, worker_user, setup},
        scheduler.run_events());
    scheduler.set_executor(proto::PoolKind::process, &processes);

    auto kept_schedules = std::move(restored.schedules);
    if (journal) {
        take_back(*journal, std::move(restored), kv, webhooks, tasks, scheduler);
    }
    if (cluster_jobs) {
        auto shared = join_cluster(io, *cluster_jobs, scheduler, schedules, {&events, &event_log},
                                   tasks, threads, processes);
        if (!shared) {
            return 1;
        }
        kept_schedules = std::move(*shared);
        for (const auto& [name, limits] : config.queues) {  // for queues no op has set
            cluster_queues->set({name, limits.max_concurrency, limits.rate_limit}, true,
                                [name](proto::Result<proto::QueueInfo> set) {
                                    if (!set) {
                                        spdlog::error("queues.{}: {}", name, set.error().message);
                                    }
                                });
        }
    }
    if (auto restored_schedules = schedules.restore(config.schedules, kept_schedules);
        !restored_schedules) {
        spdlog::error("{}", restored_schedules.error().message);
        return 1;
    }

    ShutdownSequence shutdown(io, config, scheduler, *listener, connections,
                              cluster_jobs ? &*cluster_jobs : nullptr);
    begin_shutdown = [&shutdown, &io](ShutdownMode mode) {
        // After the current handler: the `shutdown` reply is queued first.
        asio::post(io, [&shutdown, mode] { shutdown.begin(mode); });
    };
    asio::signal_set signals(io, SIGTERM, SIGINT);
    watch_signals(signals, shutdown);
    asio::signal_set others(io, SIGHUP, SIGUSR1, SIGUSR2);
    others.add(SIGALRM);
    watch_other_signals(others, config, reload, *listener, !local.address().is_loopback());

    listener->start();
    schedules.start();
    history.start();
    spdlog::info("taskpoold {} listening on {}:{} ({} threads, {} worker processes)",
                 proto::product_version, local.address().to_string(), local.port(), threads.size(),
                 processes.size());
    notify_service_manager("READY=1\nSTATUS=listening on " + address_text(local) +
                           "\nMAINPID=" + std::to_string(::getpid()));

    io.run();
    if (cluster_jobs) {
        cluster_jobs->close();
    }
    threads.shutdown();
    processes.shutdown();
    remote.shutdown();
    webhooks.stop(close_grace);
    if (journal) {
        journal->stop();
    }
    spdlog::info("stopped");
    return 0;
}

}  // namespace taskpool::daemon
