#include "redis_job_store.hpp"

#include <algorithm>
#include <charconv>

#include <spdlog/spdlog.h>
#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include "daemon/cluster/lua_scripts.hpp"
#include "daemon/sched/job_id.hpp"
#include "daemon/tasks/registry.hpp"
#include "job_fields.hpp"
#include "proto/queue.hpp"

namespace taskpool::daemon::cluster {
namespace {

using proto::Error;
using proto::ErrorCode;
using proto::JobState;
using proto::PoolKind;
using proto::Result;
using Kind = RedisReply::Kind;

/// The layout of the keys and of the job hashes (job_fields.hpp) this version
/// writes, which every node of a cluster must share; one more for each change.
/// 2: a job's spec as one field, queues by minus the score. 3: a job's `held`,
/// which the scripts publish its lines by.
constexpr std::string_view layout = "3";

std::string with_common(std::string_view body) {
    return std::string(lua::common_lua) + std::string(body);
}

std::size_t index(PoolKind pool) {
    return static_cast<std::size_t>(pool);
}

/// The queue a job waits in: its pool's, or on the remote pool its task's.
std::string queue_of(PoolKind pool, std::string_view task) {
    return pool == PoolKind::remote ? "remote:" + std::string(task) : std::string(to_string(pool));
}

std::uint64_t to_u64(std::string_view text) {
    std::uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
}

proto::Timestamp from_millis(std::string_view text) {
    return proto::Timestamp(std::chrono::milliseconds(to_u64(text)));
}

/// A map's follow-up as the scripts give it: its batch, then, results and
/// submitter, from element `at` on.
std::optional<sched::JobStore::FollowUp> follow_up(const std::vector<RedisReply>& e,
                                                   std::size_t at) {
    auto then = proto::RawJson::from_text(e[at + 1].text);
    auto results = proto::RawJson::from_text(e[at + 2].text);
    if (!then || !results) {
        return std::nullopt;
    }
    const auto& by = e[at + 3].text;
    return sched::JobStore::FollowUp{e[at].text, std::move(*then), std::move(*results),
                                     by.empty() ? proto::Shared<std::string>() : by};
}

/// An end as a script tells it: where it ended a batch, {batch, succeeded, failed,
/// cancelled}, and where the map had `then` either 'follow' and the follow-up, or
/// 'error' and why there is none.
sched::JobStore::Ended ended_from(const RedisReply& r, bool applied = true) {
    sched::JobStore::Ended ended{applied, std::nullopt, std::nullopt, {}};
    const auto& e = r.elements;
    if (r.kind != Kind::array || e.size() < 4) {
        return ended;
    }
    ended.batch = proto::BatchCounts{to_u64(e[1].text), to_u64(e[2].text), to_u64(e[3].text)};
    if (e.size() >= 6 && e[4].text == "error") {
        ended.then_error = Error{ErrorCode::dependency_failed, e[5].text};
    } else if (e.size() >= 9 && e[4].text == "follow") {
        ended.follow_up = follow_up(e, 5);
    }
    return ended;
}

Error broken(std::string_view what, const RedisReply& reply) {
    return {ErrorCode::unavailable,
            "Redis answered " + std::string(what) + " with " +
                (reply.kind == Kind::error ? reply.text : std::string("something unexpected"))};
}

/// A new job as the submit script took it: queued (or scheduled) as it was made,
/// `waiting` for the jobs it comes after, or `cancelled <id> <state>` where one of
/// those failed or was cancelled.
void as_accepted(proto::Job& job, std::string_view outcome) {
    if (outcome == "waiting") {
        job.state = JobState::waiting;
    } else if (outcome.starts_with("cancelled ")) {
        auto what = outcome.substr(10);
        auto space = what.find(' ');
        job.state = JobState::cancelled;
        job.error = proto::JobError{proto::JobErrorCode::dependency_failed,
                                    "job " + std::string(what.substr(0, space)) + " " +
                                        std::string(what.substr(space + 1))};
        job.finished_at = proto::now_timestamp();
    }
}

}  // namespace

struct RedisJobStore::Held {
    sched::JobRecord record;
    std::string token;           // this node's claim on the job; empty: none
    int ending = 0;              // ends or cancels written, their replies not yet in
    bool told = false;           // its job.finished went out with the end it wrote
    bool claimed = false;        // in claimed_, waiting for a pool to take it
    bool ours = false;           // submitted here: its `held` in Redis names this node
    std::optional<Start> start;  // held back while its pool's runs are short
};

struct RedisJobStore::Scripts {
    RedisScript submit{with_common(lua::submit_lua)};
    RedisScript take{with_common(lua::take_lua)};
    RedisScript started{with_common(lua::started_lua)};
    RedisScript progress{with_common(lua::progress_lua)};
    RedisScript requeued{with_common(lua::requeued_lua)};
    RedisScript due{with_common(lua::due_lua)};
    RedisScript finished{with_common(lua::finished_lua)};
    RedisScript cancel{with_common(lua::cancel_lua)};
    RedisScript retry{with_common(lua::retry_lua)};
    RedisScript schedule{with_common(lua::schedule_lua)};
    RedisScript heartbeat{with_common(lua::heartbeat_lua)};
    RedisScript list{with_common(lua::list_lua)};
    RedisScript stats{with_common(lua::stats_lua)};

    std::vector<const RedisScript*> all() const {
        return {&submit, &take,  &started,  &progress,  &requeued, &due,  &finished,
                &cancel, &retry, &schedule, &heartbeat, &list,     &stats};
    }
};

RedisJobStore::RedisJobStore(asio::io_context& io, const tasks::TaskRegistry& tasks,
                             Settings settings)
    : io_(io),
      tasks_(tasks),
      settings_(std::move(settings)),
      prefix_("tp:{" + settings_.name + "}:"),
      node_(sched::IdGenerator().next("n-")),
      started_at_(millis_text(proto::now_timestamp())),
      scripts_(std::make_unique<Scripts>()),
      heartbeat_timer_(io),
      retry_timer_(io),
      due_timer_(io, [this] { move_due(); }),
      token_timer_(io,
                   [this] {
                       idle_.clear();  // a lane has a token again: every queue is tried
                       if (events_.work) {
                           events_.work();
                       }
                   }),
      start_timer_(io, [this] { write_held_starts(); }) {}

RedisJobStore::~RedisJobStore() {
    close();
}

void RedisJobStore::close() {
    stopping_ = true;
    heartbeat_timer_.cancel();
    retry_timer_.cancel();
    due_timer_.cancel();
    start_timer_.cancel();
    token_timer_.cancel();
    close_connections();
}

// Connection ---------------------------------------------------------------------

void RedisJobStore::start(std::function<void(Result<void>)> done) {
    connect("join", std::move(done));
}

void RedisJobStore::connect(std::string_view how, std::function<void(Result<void>)> done) {
    auto on_closed = [this, generation = ++generation_](Error e) {
        if (generation == generation_) {
            lost(std::move(e));
        }
    };
    redis_ = RedisConnection::open(io_, settings_.url, on_closed);
    events_in_ = RedisConnection::open(io_, settings_.url, on_closed);
    redis_->command({"INFO", "server"}, [this, how = std::string(how),
                                         done = std::move(done)](Result<RedisReply> info) {
        if (!info) {
            done(info.error());
            return;
        }
        auto at = info->text.find("run_id:");
        if (at != std::string::npos) {
            run_id_ = info->text.substr(at + 7, 40);
        }
        for (const RedisScript* script : scripts_->all()) {
            script->load(*redis_, [](Result<RedisReply> loaded) {
                if (loaded && loaded->kind == Kind::error) {
                    spdlog::error("cluster: Redis refused a script: {}", loaded->text);
                }
            });
        }
        events_in_->subscribe(
            {key("ev")}, [this](std::string_view, std::string_view m) { on_message(m); },
            [this, how, done](Result<RedisReply> subscribed) {
                if (!subscribed) {
                    done(subscribed.error());
                    return;
                }
                reconnecting_ = false;  // requests may use Redis again
                command({"HGETALL", key("tasks")}, [this](Result<RedisReply> tasks) {
                    if (tasks && events_.task_known) {  // remote tasks other nodes serve
                        for (std::size_t i = 0; i + 1 < tasks->elements.size(); i += 2) {
                            events_.task_known(tasks->elements[i].text,
                                               tasks->elements[i + 1].text);
                        }
                    }
                });
                heartbeat(how, [this, done](Result<void> joined) {
                    if (joined) {
                        arm_heartbeat();
                        send();  // what waited for Redis
                        if (events_.work) {
                            events_.work();  // jobs may be waiting already
                        }
                    }
                    done(joined);
                });
            });
    });
}

void RedisJobStore::lost(Error why) {
    if (stopping_ || reconnecting_) {
        return;
    }
    spdlog::error("cluster: {}; what needs Redis is unavailable until it is back", why.message);
    reconnecting_ = true;
    close_connections();
    heartbeat_timer_.cancel();
    due_timer_.cancel();  // set again by the heartbeat that comes back
    idle_.clear();        // wakes may be lost meanwhile: every queue is tried again
    taking_ = {};
    if (events_.down) {
        events_.down();
    }
    reconnect_later(std::chrono::milliseconds(100));
}

void RedisJobStore::reconnect_later(std::chrono::milliseconds after) {
    retry_timer_.expires_after(after);
    retry_timer_.async_wait([this, after](std::error_code ec) {
        if (ec || stopping_) {
            return;
        }
        connect("renew", [this, after](Result<void> connected) {
            if (stopping_) {
                return;
            }
            if (!connected) {
                reconnecting_ = true;
                close_connections();
                reconnect_later(std::min(after * 2, max_reconnect_wait));
                return;
            }
            spdlog::info("cluster: Redis at {} is back", settings_.url.shown());
            give_back_unknown_claims();
            refresh_schedules({});  // changes told meanwhile were lost
        });
    });
}

void RedisJobStore::give_back_unknown_claims() {
    // A take whose reply was lost with the connection left claims in Redis that
    // this node never heard of: they go back, for whichever node takes them.
    command({"HGETALL", key("run:" + node_)}, [this](Result<RedisReply> runs) {
        if (!runs) {
            return;
        }
        const auto& e = runs->elements;
        for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
            auto it = by_id_.find(e[i].text);
            if (it != by_id_.end() &&
                (it->second->token == e[i + 1].text || it->second->ending > 0)) {
                continue;  // held: it runs here, or its end waits to be written
            }
            auto& args = requeued_.args;
            args.insert(args.end(), {e[i].text, e[i + 1].text, "return", "", ""});
        }
        send_later();
    });
}

void RedisJobStore::close_connections() {
    for (auto* c : {redis_.get(), events_in_.get()}) {
        if (c != nullptr && !c->closed()) {
            c->close();
        }
    }
}

void RedisJobStore::leave(std::function<void()> done) {
    stopping_ = true;
    heartbeat_timer_.cancel();
    for (auto& claimed : claimed_) {
        for (Held* h : std::exchange(claimed, {})) {
            h->claimed = false;
            give_back(*h, "return", h->record.job.attempts);
        }
    }
    send();
    // What it still claims goes back, and other nodes see it gone at once.
    heartbeat("leave", [done = std::move(done)](Result<void>) { done(); });
}

bool RedisJobStore::up() const {
    if (reconnecting_) {
        return false;
    }
    return redis_ && !redis_->closed() && events_in_ && !events_in_->closed();
}

Error RedisJobStore::unavailable(std::string_view consequence) const {
    return {ErrorCode::unavailable,
            "Redis (" + settings_.url.shown() + ") cannot be reached; " + std::string(consequence)};
}

void RedisJobStore::call(const RedisScript& script, std::vector<std::string> args,
                         RedisConnection::Handler on_reply) {
    if (!up()) {
        asio::post(io_, [this, on_reply = std::move(on_reply)] {
            on_reply(unavailable("nothing was changed"));
        });
        return;
    }
    script.call(ordered(), {prefix_}, std::move(args), std::move(on_reply));
}

void RedisJobStore::command(const std::vector<std::string>& args,
                            RedisConnection::Handler on_reply) {
    if (!up()) {
        asio::post(io_, [this, on_reply = std::move(on_reply)] {
            on_reply(unavailable("nothing was read or changed"));
        });
        return;
    }
    ordered().command(args, std::move(on_reply));
}

RedisConnection& RedisJobStore::ordered() {
    if (send_posted_) {
        send();
    }
    return *redis_;
}

void RedisJobStore::heartbeat(std::string_view how, std::function<void(Result<void>)> done) {
    call(scripts_->heartbeat,
         {node_, std::to_string(settings_.lease.count()), std::string(how), run_id_, settings_.addr,
          started_at_, events_.pools ? events_.pools() : "{}",
          std::to_string(settings_.ttl.count()), std::to_string(settings_.max_retained),
          std::to_string(settings_.max_retained_bytes), std::string(layout), hears_ ? "1" : "0"},
         [this, done = std::move(done)](Result<RedisReply> reply) {
             if (!reply) {
                 done(reply.error());
                 return;
             }
             if (reply->kind != Kind::array || reply->elements.empty()) {
                 done(broken("a heartbeat", *reply));
                 return;
             }
             if (reply->elements[0].text == "dead") {
                 lease_lost();
                 done({});
                 return;
             }
             if (reply->elements[0].text == "layout" && reply->elements.size() == 2) {
                 done(Error{ErrorCode::unavailable,
                            "cluster '" + settings_.name + "' on this Redis holds jobs in layout " +
                                reply->elements[1].text + ", and this taskpoold writes layout " +
                                std::string(layout) +
                                ": give its nodes a new cluster.name, and let the old cluster "
                                "drain (docs/cluster.md, upgrading)"});
                 return;
             }
             const auto& e = reply->elements;
             if (e.size() < 3) {
                 done(broken("a heartbeat", *reply));
                 return;
             }
             due_in(e[1].integer);
             for (const auto& taken : e[2].elements) {  // follow-ups another node left
                 auto follow =
                     taken.elements.size() == 4 ? follow_up(taken.elements, 0) : std::nullopt;
                 if (follow && events_.follow_up) {
                     events_.follow_up(std::move(*follow));
                 }
             }
             announce_ended(*reply, 3);
             done({});
         });
}

void RedisJobStore::arm_heartbeat() {
    heartbeat_timer_.expires_after(settings_.lease / 3);
    heartbeat_timer_.async_wait([this](std::error_code ec) {
        if (ec) {
            return;
        }
        if (reconnecting_) {
            return;  // armed again once connected
        }
        heartbeat("renew", [](Result<void> beat) {
            if (!beat) {
                spdlog::warn("cluster: the lease was not renewed: {}", beat.error().message);
            }
        });
        for (auto& [seq, h] : by_seq_) {
            release_later(h);  // records whose waiters ran out
        }
        // Pub/sub is at most once: a wake lost (on a reconnection of the events'
        // connection, say) would leave a queue waiting. Each heartbeat looks again
        // at the queues this node found empty.
        if (!idle_.empty()) {
            idle_.clear();
            if (events_.work) {
                events_.work();
            }
        }
        arm_heartbeat();
    });
}

void RedisJobStore::lease_lost() {
    spdlog::error(
        "cluster: node {} had not renewed its lease for {} ms; its jobs have gone to other "
        "nodes, and it joins again",
        node_, settings_.lease.count());
    for (auto& claimed : claimed_) {
        for (Held* h : std::exchange(claimed, {})) {
            h->claimed = false;
            release_later(h);
        }
    }
    for (auto& [seq, h] : by_seq_) {
        if (!h->token.empty()) {
            h->token.clear();
            refresh(h->record.job.id);
        }
    }
    if (hears_) {
        // Taken for dead, it was no longer among the nodes that hear every line:
        // what ended meanwhile is read again once it is.
        hears_ = false;
        hear([this] {
            for (auto& [seq, h] : by_seq_) {
                if (!proto::is_final(h->record.job.state)) {
                    refresh(h->record.job.id);
                }
            }
        });
    }
    heartbeat("join", [](Result<void>) {});
}

void RedisJobStore::announce_ended(const RedisReply& reply, std::size_t from) {
    for (std::size_t i = from; i + 1 < reply.elements.size(); i += 2) {
        read_jobs({reply.elements[i].text},
                  [this, ended = ended_from(reply.elements[i + 1])](auto found) {
                      if (found && found->front() != nullptr && events_.ended_here) {
                          events_.ended_here(*found->front(), ended);
                      }
                  });
    }
}

// Records ---------------------------------------------------------------------------

RedisJobStore::Held* RedisJobStore::held(const JobRecord& r) {
    auto it = by_seq_.find(r.seq);
    return it == by_seq_.end() ? nullptr : it->second;
}

sched::JobRecord* RedisJobStore::find(std::string_view id) {
    auto it = by_id_.find(std::string(id));
    return it == by_id_.end() ? nullptr : &it->second->record;
}

sched::JobRecord* RedisJobStore::find_by_seq(std::uint64_t seq) {
    auto it = by_seq_.find(seq);
    return it == by_seq_.end() ? nullptr : &it->second->record;
}

void RedisJobStore::newest_first(const std::function<bool(JobRecord&)>& visit) {
    std::vector<Held*> all;
    for (auto& [seq, h] : by_seq_) {
        all.push_back(h);
    }
    std::sort(all.begin(), all.end(),
              [](const Held* a, const Held* b) { return a->record.seq > b->record.seq; });
    for (Held* h : all) {
        if (!visit(h->record)) {
            return;
        }
    }
}

namespace {

/// The record takes the job as Redis has it, and keeps this node's seq for it.
void refill(sched::JobRecord& r, sched::StoredJob stored) {
    auto seq = r.seq;
    static_cast<sched::StoredJob&>(r) = std::move(stored);
    r.seq = seq;
}

}  // namespace

RedisJobStore::Held* RedisJobStore::hold(ReadJob read, bool claimed) {
    if (!claimed) {
        read.token.clear();  // a claim is this node's only as the take's reply says
    }
    auto it = by_id_.find(read.stored.job.id);
    if (it != by_id_.end()) {
        Held* h = it->second.get();
        if (h->token.empty() && h->ending == 0) {  // else this node's copy is the newer
            refill(h->record, std::move(read.stored));
            h->token = std::move(read.token);
        }
        return h;
    }
    auto h = std::make_unique<Held>();
    static_cast<sched::StoredJob&>(h->record) = std::move(read.stored);
    h->record.seq = next_seq_++;  // this node's key for it, as pools report runs
    h->record.task = tasks_.find(h->record.job.task);
    h->token = std::move(read.token);
    Held* raw = h.get();
    by_seq_.emplace(raw->record.seq, raw);
    by_id_.emplace(raw->record.job.id, std::move(h));
    return raw;
}

void RedisJobStore::release_later(Held* h) {
    releasing_.push_back(h->record.seq);
    if (!sweep_posted_) {
        sweep_posted_ = true;
        asio::post(io_, [this] { sweep(); });
    }
}

void RedisJobStore::sweep() {
    sweep_posted_ = false;
    for (std::uint64_t seq : std::exchange(releasing_, {})) {
        auto it = by_seq_.find(seq);
        if (it == by_seq_.end()) {
            continue;
        }
        Held* h = it->second;
        const JobRecord& r = h->record;
        if (h->token.empty() && h->ending == 0 && !h->claimed && r.waiters.empty() &&
            r.run_handle == 0) {
            by_seq_.erase(it);
            by_id_.erase(r.job.id);
        }
    }
}

// Submitting ---------------------------------------------------------------------------

void RedisJobStore::add(std::span<JobRecord> records, Added added) {
    if (records.empty()) {
        added(std::span<JobRecord* const>());
        return;
    }
    if (!up()) {
        asio::post(
            io_, [this, added = std::move(added)] { added(unavailable("nothing was accepted")); });
        return;
    }
    const JobRecord& first = records.front();
    PoolKind pool = first.job.pool;
    auto& args = submits_.args;
    args.push_back(std::to_string(records.size()));
    args.emplace_back(to_string(pool));
    args.push_back(queue_of(pool, first.job.task));
    // Only the options a request has go: most have none, and each string costs the
    // script the same whether empty or not.
    std::size_t options_at = args.size();
    args.emplace_back();
    auto option = [&args](std::string_view name, std::string value) {
        args.emplace_back(name);
        args.push_back(std::move(value));
    };
    if (first.job.queue) {
        option("named", *first.job.queue);
    }
    if (first.key) {
        option("key", *first.key);
    }
    if (first.job.batch) {
        option("batch", *first.job.batch);
    }
    if (first.batch_then) {
        option("then", std::string(first.batch_then->text()));
    }
    if (first.job.scheduled_for) {
        option("due", millis_text(*first.job.scheduled_for));
    }
    if (!first.job.after.empty()) {
        option("after", id_list(first.job.after));
    }
    if (first.follows) {
        option("follows", *first.follows);
    }
    // A schedule's firing moves it on only with its job (schedule.lua's `advance`
    // does it alone where the job never reached the store).
    auto advance = first.job.schedule ? advances_.find(*first.job.schedule) : advances_.end();
    if (advance != advances_.end()) {
        option("firing", advance->first);
        option("fired_at", millis_text(advance->second.from));
        option("next_at", advance->second.next_at ? millis_text(*advance->second.next_at) : "");
        option("submitted_at", millis_text(first.job.submitted_at));
        advances_.erase(advance);
    }
    args[options_at] = std::to_string((args.size() - options_at - 1) / 2);
    std::vector<std::string> fields;
    for (const auto& r : records) {
        fields.clear();
        bool cancellable = pool != PoolKind::thread || (r.task != nullptr && r.task->cancellable);
        JobFields::submitted(r, cancellable, fields);
        args.push_back(r.job.id);
        args.push_back(std::to_string(r.job.priority));
        args.push_back(std::to_string(fields.size() / 2));
        std::move(fields.begin(), fields.end(), std::back_inserter(args));
    }
    adding_[index(pool)] += records.size();
    auto kept = std::make_shared<std::vector<JobRecord>>(std::make_move_iterator(records.begin()),
                                                         std::make_move_iterator(records.end()));
    submits_.replies.push_back([this, pool, kept,
                                added = std::move(added)](Result<RedisReply> reply) mutable {
        adding_[index(pool)] -= kept->size();
        std::string_view outcome = reply ? std::string_view(reply->text) : std::string_view();
        auto word = outcome.substr(0, outcome.find(' '));
        if (!reply) {
            added(reply.error());
        } else if (word == "ok" || word == "waiting" || word == "cancelled") {
            std::vector<JobRecord*> out;
            for (auto& r : *kept) {
                as_accepted(r.job, outcome);
                ReadJob read{std::move(static_cast<sched::StoredJob&>(r)), {}};
                Held* h = hold(std::move(read), false);
                h->record.task = r.task;
                h->ours = true;
                out.push_back(&h->record);
                release_later(h);
            }
            added(std::span<JobRecord* const>(out));
        } else if (word == "no_such_job") {
            added(Error{ErrorCode::no_such_job,
                        "field 'after': no job '" + std::string(outcome.substr(12)) + "'"});
        } else if (reply->text == "too_many") {
            added(proto::too_many_queues());
        } else if (reply->text == "full") {
            // A submit waiting for room goes again when another node's job leaves
            // the queue, which only a node that hears every line learns of: once it
            // does, it tries again, for what left meanwhile.
            if (!hears_ || !hearing_.empty()) {
                hear([this] {
                    if (events_.work) {
                        events_.work();
                    }
                });
            }
            added(Error{ErrorCode::queue_full,
                        "the " + std::string(to_string(pool)) +
                            " pool's queue is full across the cluster (queue.max_size " +
                            std::to_string(settings_.queue_max_size) + ")"});
        } else if (reply->kind == Kind::string) {  // the job that holds the key
            read_jobs({reply->text}, [added = std::move(added)](auto found) {
                if (!found || found->front() == nullptr) {
                    added(found ? Error{ErrorCode::unavailable, "the job that held the key is gone"}
                                : found.error());
                    return;
                }
                added(*found);
            });
        } else {
            added(broken("a submit", *reply));
        }
    });
    send_later();
}

// Sending what a turn made ----------------------------------------------------------

void RedisJobStore::send_later() {
    if (!send_posted_) {
        send_posted_ = true;
        asio::post(io_, [this] { send(); });
    }
}

void RedisJobStore::send() {
    send_posted_ = false;
    if (!up()) {
        return;  // kept, and sent once Redis is back
    }
    // In this order: a job submitted, begun and ended in one turn is written so.
    flush(scripts_->submit, submits_,
          {node_, std::to_string(settings_.queue_max_size), std::to_string(proto::max_queues),
           std::to_string(submits_.replies.size())});
    if (!advances_.empty()) {
        std::vector<std::string> args{"advance"};
        for (const auto& [name, a] : std::exchange(advances_, {})) {
            args.insert(args.end(), {name, millis_text(a.from),
                                     a.next_at ? millis_text(*a.next_at) : std::string()});
        }
        call(scripts_->schedule, std::move(args), [](Result<RedisReply>) {});
    }
    flush(scripts_->started, started_, {node_});
    flush(scripts_->requeued, requeued_, {node_});
    flush(scripts_->finished, finished_,
          {node_, std::to_string(settings_.ttl.count()), std::to_string(settings_.max_retained),
           std::to_string(settings_.max_retained_bytes)});
}

void RedisJobStore::flush(const RedisScript& script, Pending& pending,
                          std::vector<std::string> head) {
    if (pending.args.empty()) {
        return;
    }
    auto batch = std::exchange(pending, {});
    head.insert(head.end(), std::make_move_iterator(batch.args.begin()),
                std::make_move_iterator(batch.args.end()));
    call(script, std::move(head),
         [this, replies = std::move(batch.replies)](Result<RedisReply> reply) mutable {
             for (std::size_t i = 0; i < replies.size(); ++i) {
                 if (!reply) {
                     replies[i](reply.error());
                 } else if (reply->kind == Kind::array && i < reply->elements.size()) {
                     replies[i](std::move(reply->elements[i]));
                 } else {
                     replies[i](broken("a batch", *reply));
                 }
             }
             if (!reply) {
                 spdlog::warn("cluster: {}", reply.error().message);
             } else if (reply->kind == Kind::error) {
                 spdlog::error("cluster: Redis refused a script: {}", reply->text);
             } else {
                 announce_ended(*reply, replies.size());
             }
         });
}

void RedisJobStore::hear(base::Callback<void()> ready) {
    if (hears_ && hearing_.empty()) {
        ready();
        return;
    }
    hearing_.push_back(std::move(ready));
    if (hears_) {
        return;  // on its way
    }
    hears_ = true;  // and from now on, with each heartbeat
    auto heard = [this] {
        for (auto& waiting : std::exchange(hearing_, {})) {
            waiting();
        }
    };
    if (!up()) {
        asio::post(io_, heard);  // the heartbeat that joins again adds it
        return;
    }
    ordered().command({"SADD", key("hear"), node_}, [heard](Result<RedisReply>) { heard(); });
}

void RedisJobStore::when_durable(base::Callback<void()> f) {
    if (!up()) {
        asio::post(io_, std::move(f));
        return;
    }
    // Replies come in order: once PING's is in, so is every earlier one.
    ordered().command({"PING"}, [f = std::move(f)](Result<RedisReply>) { f(); });
}

// Reading ---------------------------------------------------------------------------

void RedisJobStore::lookup(std::span<const std::string> ids, Found found) {
    std::vector<std::string> wanted(ids.begin(), ids.end());
    read_jobs(std::move(wanted), std::move(found));
}

void RedisJobStore::read_jobs(std::vector<std::string> ids, Found found) {
    struct Read {
        std::vector<std::string> ids;
        std::vector<Held*> held;
        std::size_t left = 0;
        std::optional<Error> error;
        Found found;
    };
    auto read = std::make_shared<Read>();
    read->held.resize(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto it = by_id_.find(ids[i]);
        if (it != by_id_.end() && (!it->second->token.empty() || it->second->ending > 0)) {
            read->held[i] = it->second.get();  // this node's copy is the newest
        } else {
            ++read->left;
        }
    }
    read->ids = std::move(ids);
    read->found = std::move(found);
    auto answer = [this](Read& r) {
        if (r.error) {
            r.found(*r.error);
            return;
        }
        std::vector<JobRecord*> records;
        for (Held* h : r.held) {
            records.push_back(h != nullptr ? &h->record : nullptr);
        }
        r.found(std::span<JobRecord* const>(records));
        for (Held* h : r.held) {
            if (h != nullptr) {
                release_later(h);
            }
        }
    };
    if (!up()) {
        // Even a job this node holds: a wait for it would last until Redis is back,
        // since its end is written only then. What needs Redis is unavailable.
        asio::post(io_, [this, read] { read->found(unavailable("nothing was read")); });
        return;
    }
    if (read->left == 0) {
        answer(*read);
        return;
    }
    for (std::size_t i = 0; i < read->ids.size(); ++i) {
        if (read->held[i] != nullptr) {
            continue;
        }
        ++reading_[read->ids[i]];
        ordered().command(
            {"HGETALL", key("j:" + read->ids[i])}, [this, read, i, answer](auto reply) {
                const std::string& id = read->ids[i];
                if (--reading_[id] == 0) {
                    reading_.erase(id);
                }
                if (!reply) {
                    read->error = reply.error();
                } else if (reply->kind == Kind::array && !reply->elements.empty()) {
                    auto job = read_job(*reply);
                    if (job) {
                        read->held[i] = hold(std::move(*job), false);
                    } else {
                        read->error = job.error();
                    }
                }
                if (--read->left == 0) {
                    answer(*read);
                }
                if (reread_.erase(id) > 0) {
                    refresh(id);  // it ended while being read: its waiters are told now
                }
            });
    }
}

void RedisJobStore::list(const proto::ListRequest& query, Listed listed) {
    call(scripts_->list,
         {query.state ? std::string(to_string(*query.state)) : "", query.prefix.value_or(""),
          query.contains.value_or(""), query.task.value_or(""), query.queue.value_or(""),
          query.batch.value_or(""), std::to_string(query.limit), query.before.value_or("")},
         [listed = std::move(listed), before = query.before](Result<RedisReply> reply) {
             if (!reply) {
                 listed(reply.error());
                 return;
             }
             const auto& found = reply->elements;
             if (found.size() == 1 && found[0].kind == RedisReply::Kind::string) {
                 listed(proto::no_job_to_list_from(before.value_or("")));
                 return;
             }
             std::vector<proto::Job> jobs;
             for (const auto& fields : found) {
                 if (auto read = read_job(fields)) {
                     jobs.push_back(std::move(read->stored.job));
                 }
             }
             std::vector<const proto::Job*> pointers;
             for (const auto& job : jobs) {
                 pointers.push_back(&job);
             }
             listed(std::span<const proto::Job* const>(pointers));
         });
}

void RedisJobStore::counts(Counted counted) {
    call(scripts_->stats, {}, [counted = std::move(counted)](Result<RedisReply> reply) {
        if (!reply || reply->kind != Kind::array || reply->elements.size() < 4) {
            counted(reply ? broken("stats", *reply) : reply.error());
            return;
        }
        ClusterCounts c;
        const auto& stats = reply->elements[0].elements;
        for (std::size_t i = 0; i + 1 < stats.size(); i += 2) {
            std::string_view name = stats[i].text;
            std::uint64_t value = to_u64(stats[i + 1].text);
            if (name == "submitted") {
                c.submitted = value;
            } else if (name == "scheduled") {
                c.scheduled = value;
            } else if (name == "waiting") {
                c.waiting = value;
            } else if (name == "running") {
                c.running = value;
            } else if (name == "succeeded") {
                c.succeeded = value;
            } else if (name == "failed") {
                c.failed = value;
            } else if (name == "cancelled") {
                c.cancelled = value;
            } else if (name.starts_with("queued:")) {
                if (auto pool = proto::pool_from_string(name.substr(7))) {
                    c.queued[index(*pool)] = value;
                }
            }
        }
        const auto& e = reply->elements;
        c.kv_keys = static_cast<std::uint64_t>(e[1].integer);
        c.kv_bytes = to_u64(e[2].text);
        for (const auto& pool : e[3].elements) {
            if (auto paused = proto::pool_from_string(pool.text)) {
                c.paused[index(*paused)] = true;
            }
        }
        for (std::size_t i = 4; i + 4 < e.size(); i += 5) {
            c.nodes.push_back({e[i].text, e[i + 1].text, e[i + 4].text, from_millis(e[i + 2].text),
                               from_millis(e[i + 3].text)});
        }
        counted(std::move(c));
    });
}

// Taking and running ----------------------------------------------------------------

sched::JobRecord* RedisJobStore::take_runnable(PoolKind pool, sched::QueueGate& /*gate*/) {
    auto& claimed = claimed_[index(pool)];
    // A claim that ended meanwhile (cancelled, or its lease lost) is not run.
    while (!claimed.empty()) {
        Held* h = claimed.front();
        claimed.pop_front();
        h->claimed = false;
        if (!h->token.empty()) {
            return &h->record;
        }
        release_later(h);
    }
    return nullptr;
}

sched::JobRecord* RedisJobStore::take_runnable(PoolKind pool,
                                               std::span<const std::string_view> tasks,
                                               sched::QueueGate& /*gate*/) {
    auto& claimed = claimed_[index(pool)];
    std::erase_if(claimed, [this](Held* h) {
        if (h->token.empty()) {
            h->claimed = false;
            release_later(h);
        }
        return h->token.empty();
    });
    auto it = std::find_if(claimed.begin(), claimed.end(), [&](Held* h) {
        return std::find(tasks.begin(), tasks.end(), h->record.job.task) != tasks.end();
    });
    if (it == claimed.end()) {
        return nullptr;
    }
    Held* h = *it;
    claimed.erase(it);
    h->claimed = false;
    return &h->record;
}

void RedisJobStore::want_runnable(PoolKind pool, std::optional<std::vector<std::string_view>> tasks,
                                  std::size_t idle, std::size_t room) {
    auto i = index(pool);
    if (taking_[i] || !claimed_[i].empty() || !up()) {
        return;
    }
    // Claim only what idle workers begin now, so that a node does not sit on jobs
    // another node could run; but where the queue is deep and its jobs short, twice
    // what the pool has room for, so that a worker that ends a run has the next at
    // hand while the next take waits behind the scripts ahead of it in Redis (as the
    // process pool holds runs ahead for short tasks only). Half as many left 1 node
    // at 17,000 echo jobs/s where this does 22,000, and cost Redis more a job: a
    // call carries fewer (docs/benchmarks.md).
    bool ahead = deep_[i] && typical_run_ms_[i] < short_run_ms;
    std::size_t max = ahead ? 2 * room : std::min(idle, room);
    std::vector<std::string> args{node_, node_ + ":" + std::to_string(next_take_++) + ":",
                                  std::to_string(max), std::string(to_string(pool))};
    if (tasks) {
        for (auto task : *tasks) {
            args.push_back(queue_of(pool, task));
        }
    } else {
        args.push_back(queue_of(pool, ""));
    }
    constexpr std::size_t queues_at = 4;
    bool any_awake = std::any_of(args.begin() + queues_at, args.end(),
                                 [this](const std::string& q) { return !idle_.contains(q); });
    if (max == 0 || args.size() == queues_at || !any_awake) {
        return;
    }
    taking_[i] = true;
    std::vector<std::string> queues(args.begin() + queues_at, args.end());
    std::string prefix = args[1];
    call(scripts_->take, std::move(args),
         [this, i, max, prefix = std::move(prefix), wakes = wakes_,
          queues = std::move(queues)](Result<RedisReply> reply) mutable {
             if (!reply) {
                 taking_[i] = false;
                 return;  // told when Redis is back
             }
             if (reply->kind == Kind::string && reply->text == "dead") {
                 taking_[i] = false;
                 lease_lost();
                 return;
             }
             if (reply->kind != Kind::array || reply->elements.size() != 2) {
                 taking_[i] = false;
                 spdlog::error("cluster: {}", broken("a take", *reply).message);
                 return;
             }
             const auto& claims = reply->elements[0].elements;
             std::vector<std::string> unknown;
             for (std::size_t c = 0; c + 1 < claims.size(); c += 2) {
                 if (Held* h = fresh_copy(claims[c].text, claims[c + 1].text)) {
                     h->token = prefix + claims[c].text;
                     h->record.job.node = node_;
                     h->claimed = true;
                     claimed_[i].push_back(h);
                 } else {
                     unknown.push_back(claims[c].text);
                 }
             }
             std::size_t taken = claims.size() / 2;
             read_claimed(i, std::move(unknown),
                          [this, i, taken, max, wakes, queues = std::move(queues),
                           token_in = reply->elements[1].integer] {
                              taking_[i] = false;
                              deep_[i] = taken >= max;
                              // A wake that came in meanwhile (on the other connection)
                              // may be for a job queued after the take: then the queues
                              // are not idle after all.
                              if (!deep_[i] && wakes == wakes_) {
                                  idle_.insert(queues.begin(), queues.end());
                              }
                              held_by_rate(token_in);
                              if ((taken > 0 || wakes != wakes_) && events_.work) {
                                  events_.work();
                              }
                          });
         });
}

RedisJobStore::Held* RedisJobStore::fresh_copy(const std::string& id, std::string_view attempts) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) {
        return nullptr;
    }
    // The copy this node's own submit made, which Redis has as it was: a job that
    // ran, came due or waited since is read afresh.
    Held* h = it->second.get();
    int n = -1;
    bool same = to_number(attempts, n) && n == h->record.job.attempts;
    return same && h->token.empty() && h->ending == 0 && !h->claimed &&
                   h->record.job.state == JobState::queued
               ? h
               : nullptr;
}

void RedisJobStore::read_claimed(std::size_t pool, std::vector<std::string> ids,
                                 std::function<void()> done) {
    if (ids.empty()) {
        done();
        return;
    }
    auto left = std::make_shared<std::size_t>(ids.size());
    auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
    for (const auto& id : ids) {
        command({"HGETALL", key("j:" + id)},
                [this, pool, left, shared_done](Result<RedisReply> reply) {
                    // One lost with the connection stays claimed in Redis until the node is
                    // back, and then goes back (give_back_unknown_claims()).
                    if (reply) {
                        auto read = read_job(*reply);
                        if (read) {
                            Held* h = hold(std::move(*read), true);
                            h->claimed = true;
                            claimed_[pool].push_back(h);
                        } else {
                            spdlog::error("cluster: {}", read.error().message);
                        }
                    }
                    if (--*left == 0) {
                        (*shared_done)();
                    }
                });
    }
}

void RedisJobStore::started(const JobRecord& r) {
    Held* h = held(r);
    if (h == nullptr || h->token.empty()) {
        return;
    }
    Start start{message('S', r.job.id, proto::encode_job_event("job.started", r.job)), {}};
    JobFields::started(r.job, start.fields);
    // Where this pool's runs are short, the start waits to be written with the end,
    // which saves Redis a script's work a job; one that runs longer is written on
    // its own within short_run_ms, and the job shows `queued` until then.
    if (typical_run_ms_[index(r.job.pool)] < short_run_ms) {
        h->start = std::move(start);
        held_starts_.push_back(r.job.id);
        start_timer_.in(std::chrono::milliseconds(static_cast<int>(short_run_ms)));
        return;
    }
    write_start(*h, std::move(start));
}

void RedisJobStore::write_start(Held& h, Start start) {
    auto& args = started_.args;
    args.push_back(h.record.job.id);
    args.push_back(h.token);
    args.push_back(std::move(start.message));
    args.push_back(std::to_string(start.fields.size() / 2));
    std::move(start.fields.begin(), start.fields.end(), std::back_inserter(args));
    send_later();
}

void RedisJobStore::write_held_start(Held& h) {
    if (h.start) {
        write_start(h, *std::exchange(h.start, std::nullopt));
    }
}

void RedisJobStore::write_held_start(std::string_view id) {
    if (auto it = by_id_.find(std::string(id)); it != by_id_.end()) {
        write_held_start(*it->second);
    }
}

void RedisJobStore::write_held_starts() {
    for (const auto& id : std::exchange(held_starts_, {})) {
        write_held_start(id);
    }
}

void RedisJobStore::progressed(const JobRecord& r) {
    Held* h = held(r);
    if (h != nullptr && !h->token.empty() && r.job.progress) {
        call(scripts_->progress, {r.job.id, h->token, std::string(r.job.progress->text())},
             [](Result<RedisReply>) {});
    }
}

void RedisJobStore::give_back(Held& h, std::string_view why, int attempts,
                              std::optional<proto::Timestamp> due) {
    if (h.token.empty()) {
        return;
    }
    write_held_start(h);  // its job.started goes out before it is queued again
    auto& args = requeued_.args;
    args.push_back(h.record.job.id);
    args.push_back(std::exchange(h.token, {}));
    args.emplace_back(why);
    args.push_back(std::to_string(attempts));
    args.push_back(due ? millis_text(*due) : "");
    release_later(&h);
    send_later();
}

void RedisJobStore::requeued(const JobRecord& r) {
    if (Held* h = held(r)) {
        bool backs_off = r.job.state == JobState::scheduled;
        give_back(*h, "retry", r.job.attempts,
                  backs_off ? r.job.scheduled_for : std::optional<proto::Timestamp>());
    }
}

void RedisJobStore::due_in(std::int64_t ms) {
    if (ms >= 0 && !stopping_) {
        due_timer_.in(std::chrono::milliseconds(ms));
    }
}

void RedisJobStore::held_by_rate(std::int64_t ms) {
    if (ms >= 0 && !stopping_) {
        token_timer_.in(std::chrono::milliseconds(ms));
    }
}

void RedisJobStore::move_due() {
    call(scripts_->due, {std::to_string(due_per_call)}, [this](Result<RedisReply> reply) {
        if (!reply) {
            return;  // the heartbeat that comes back with Redis sets the timer again
        }
        if (reply->kind != Kind::integer) {
            spdlog::error("cluster: {}", broken("moving jobs that are due", *reply).message);
            return;
        }
        due_in(reply->integer);
    });
}

void RedisJobStore::returned(const JobRecord& r) {
    if (Held* h = held(r)) {
        give_back(*h, "return", r.job.attempts);
    }
}

void RedisJobStore::make_runnable(JobRecord& r) {
    // A claim handed back by a pool that did not begin it: for whichever node
    // takes it next. A job queued or queued again is in Redis already.
    if (Held* h = held(r)) {
        give_back(*h, "return", r.job.attempts);
    }
}

void RedisJobStore::finished(const JobRecord& r, Durable durable) {
    Held* h = held(r);
    if (!up() && finished_.replies.size() >= max_unwritten_ends) {
        spdlog::error(
            "cluster: job {} ended while Redis is away, with {} ends waiting already; "
            "this one is told here and not kept",
            r.job.id, finished_.replies.size());
        asio::post(io_, [seq = r.seq, durable = std::move(durable)] { durable(seq, Ended{}); });
        return;
    }
    if (h == nullptr || h->token.empty()) {
        asio::post(io_, [seq = r.seq, durable = std::move(durable)] {
            Ended elsewhere;
            elsewhere.applied = false;
            durable(seq, elsewhere);
        });
        return;
    }
    if (r.job.started_at && r.job.finished_at) {
        double ms = static_cast<double>((*r.job.finished_at - *r.job.started_at).count());
        auto& typical = typical_run_ms_[index(r.job.pool)];
        typical += (ms - typical) / 8;
    }
    // A start held back is written with the end: its fields (but `attempts`, which
    // the end has too), and its job.started published just before the job.finished.
    Start start = h->start ? *std::exchange(h->start, std::nullopt) : Start{};
    std::vector<std::string> fields;
    if (!start.message.empty()) {
        JobFields::ran(r.job, fields);
    }
    JobFields::finished(r.job, fields);
    auto& args = finished_.args;
    args.push_back(r.job.id);
    args.push_back(std::exchange(h->token, {}));
    args.emplace_back(to_string(r.job.state));
    args.push_back(std::move(start.message));
    args.push_back(message('F', r.job.id, proto::encode_job_event("job.finished", r.job)));
    args.push_back(std::to_string(fields.size() / 2));
    std::move(fields.begin(), fields.end(), std::back_inserter(args));
    ++h->ending;
    finished_.replies.push_back(
        [this, h, seq = r.seq, durable = std::move(durable)](Result<RedisReply> reply) {
            --h->ending;
            release_later(h);
            if (!reply) {
                // Redis did not confirm it: told as ended, as a local store whose
                // journal failed does; the outcome is lost with the lease.
                if (stopping_) {
                    spdlog::info("cluster: the end of job {} was not written: the node has left",
                                 h->record.job.id);
                } else {
                    spdlog::error("cluster: the end of job {} was not written: {}",
                                  h->record.job.id, reply.error().message);
                }
                durable(seq, Ended{});
                return;
            }
            bool applied = reply->kind != Kind::integer || reply->integer != 0;
            h->told = applied;  // the script published its job.finished
            durable(seq, ended_from(*reply, applied));
        });
    send_later();
}

void RedisJobStore::cancel(JobRecord& r, Cancelled cancelled) {
    Held* h = held(r);
    write_held_start(*h);  // so that the script sees it running, as it is
    ++h->ending;
    call(scripts_->cancel,
         {r.job.id, millis_text(proto::now_timestamp()), std::to_string(settings_.ttl.count()),
          std::to_string(settings_.max_retained), std::to_string(settings_.max_retained_bytes)},
         [this, h, cancelled = std::move(cancelled)](Result<RedisReply> reply) {
             --h->ending;
             release_later(h);
             JobRecord& job = h->record;
             if (!reply) {
                 cancelled(reply.error());
                 return;
             }
             const auto& e = reply->elements;
             std::string_view outcome = e.empty() ? "" : std::string_view(e[0].text);
             if (outcome == "no_such_job") {
                 cancelled(Error{ErrorCode::no_such_job, "no job '" + job.job.id + "'"});
             } else if (outcome == "final") {
                 cancelled(Error{ErrorCode::not_cancellable,
                                 "job " + job.job.id + " has already " + e[1].text});
             } else if (outcome == "fixed") {
                 cancelled(Error{ErrorCode::not_cancellable,
                                 "task '" + job.job.task + "' cannot be stopped once it runs"});
             } else if (outcome == "cancelled" && e.size() >= 4) {
                 h->token.clear();  // claimed here and not yet handed to a pool: not run
                 if (auto read = read_job(e[1])) {
                     refill(job, std::move(read->stored));
                 }
                 cancelled(ended_from(e[3]));
                 announce_ended(*reply, 4);
             } else {
                 cancelled(broken("a cancel", *reply));
             }
         });
}

void RedisJobStore::retry(const std::string& id, Retried retried) {
    call(scripts_->retry, {id}, [this, retried = std::move(retried)](Result<RedisReply> reply) {
        if (!reply) {
            retried(reply.error());
            return;
        }
        const auto& e = reply->elements;
        if (reply->kind == Kind::array && e.size() == 1 && e[0].text == "no_such_job") {
            retried(Retry{});
            return;
        }
        if (reply->kind != Kind::array || e.size() != 2) {
            retried(broken("a retry", *reply));
            return;
        }
        auto read = read_job(e[1]);
        if (!read) {
            retried(read.error());
            return;
        }
        Held* h = hold(std::move(*read), false);
        release_later(h);
        retried(Retry{&h->record, e[0].text == "retried"});
    });
}

void RedisJobStore::waited_on(JobRecord& r) {
    Held* h = held(r);
    // Its end reaches this node where this node runs it or submitted it (the
    // job's `held` names it then, or `*` once another took it), or once the node
    // hears every line: then it is read again, in case it ended before.
    if (h == nullptr || h->ours || !h->token.empty() || (hears_ && hearing_.empty())) {
        return;
    }
    hear([this, id = r.job.id] { refresh(id); });
}

void RedisJobStore::retain(JobRecord& r) {
    if (Held* h = held(r)) {
        release_later(h);
    }
}

// Events ------------------------------------------------------------------------------

std::string RedisJobStore::message(char kind, std::string_view id, std::string_view line) const {
    if (line.ends_with('\n')) {
        line.remove_suffix(1);  // events follow one another a line each
    }
    std::string m = node_;
    m += ' ';
    m += kind;
    m += ' ';
    m += id;
    m += '\n';
    m += line;
    return m;
}

void RedisJobStore::publish(char kind, std::string_view id, const std::string& line) {
    if (up()) {
        ordered().command({"PUBLISH", key("ev"), message(kind, id, line)},
                          [](Result<RedisReply>) {});
    }
}

void RedisJobStore::task_known(const std::string& name, const std::string& description) {
    command({"HSET", key("tasks"), name, description}, [](Result<RedisReply>) {});
    publish('T', name, nlohmann::json(description).dump());  // on one line
}

void RedisJobStore::job_started(const proto::Job&) {
    // Published with the start it wrote (started()).
}

void RedisJobStore::job_finished(const proto::Job& job) {
    auto it = by_id_.find(job.id);
    if (it != by_id_.end() && std::exchange(it->second->told, false)) {
        return;  // published with the end it wrote
    }
    publish('F', job.id, proto::encode_job_event("job.finished", job));
}

void RedisJobStore::job_progress(const proto::Job& job) {
    write_held_start(job.id);  // its job.started goes out first
    publish('P', job.id, proto::encode_progress_event(job.id, *job.progress));
}

void RedisJobStore::batch_finished(const std::string& batch, const proto::BatchEnd& end) {
    publish('B', batch, proto::encode_batch_event(batch, end, proto::now_timestamp()));
}

void RedisJobStore::on_message(std::string_view message) {
    // Events, each "<origin> <kind> <id>\n<line>", one after another.
    while (!message.empty()) {
        auto header_end = message.find('\n');
        if (header_end == std::string_view::npos) {
            return;
        }
        auto line_end = std::min(message.find('\n', header_end + 1), message.size());
        on_event(message.substr(0, header_end),
                 message.substr(header_end + 1, line_end - header_end - 1));
        message.remove_prefix(std::min(line_end + 1, message.size()));
    }
}

void RedisJobStore::on_event(std::string_view header, std::string_view line) {
    auto first = header.find(' ');
    if (first == std::string_view::npos || first + 3 > header.size()) {
        return;
    }
    std::string_view origin = header.substr(0, first);
    char kind = header[first + 1];
    std::string_view id = header.substr(first + 3);
    bool mine = origin == node_;
    if (kind == 'T') {
        auto description = nlohmann::json::parse(line, nullptr, false);
        if (!mine && events_.task_known && description.is_string()) {
            events_.task_known(std::string(id), description.get<std::string>());
        }
        return;
    }
    if (kind == 'D') {
        std::int64_t ms = -1;
        std::from_chars(id.data(), id.data() + id.size(), ms);
        due_in(ms);
        return;
    }
    if (kind == 'C') {
        refresh_schedules({std::string(id)});
        return;
    }
    if (kind == 'W') {
        ++wakes_;
        if (id == "*") {
            idle_.clear();
        } else if (auto it = idle_.find(id); it != idle_.end()) {
            idle_.erase(it);
        }
        if (events_.work) {
            events_.work();
        }
        return;
    }
    // Subscribers here get every node's events this node's own included, in the
    // one order Redis gave them: a batch's end after the ends of its jobs.
    if (events_.relay) {
        std::string text(line);
        text += '\n';
        events_.relay(kind, id, text);
    }
    if (mine) {
        return;
    }
    if ((kind == 'S' || kind == 'F') && events_.work) {
        events_.work();  // a queue may have a job fewer: a submit waiting for room may go
    }
    if (kind == 'F') {
        std::string job(id);
        if (reading_.contains(job)) {
            reread_.insert(job);
        }
        refresh(job);
    }
}

void RedisJobStore::refresh(const std::string& id) {
    if (!by_id_.contains(id) || !up()) {
        return;
    }
    ordered().command({"HGETALL", key("j:" + id)}, [this, id](Result<RedisReply> reply) {
        auto it = by_id_.find(id);
        if (!reply || it == by_id_.end()) {
            return;
        }
        auto read = read_job(*reply);
        if (!read || !proto::is_final(read->stored.job.state)) {
            return;
        }
        Held* h = it->second.get();
        h->token.clear();
        if (events_.ended_elsewhere) {
            events_.ended_elsewhere(h->record, std::move(read->stored.job));
        }
        release_later(h);
    });
}

// Schedules ---------------------------------------------------------------------------

void RedisJobStore::schedule_kept(const proto::ScheduleInfo& schedule) {
    ++schedule_writes_;
    call(scripts_->schedule,
         {"set", schedule.spec.name, schedule_spec(schedule),
          schedule.next_at ? millis_text(*schedule.next_at) : ""},
         [name = schedule.spec.name](Result<RedisReply> reply) {
             if (!reply) {
                 spdlog::error("cluster: schedule '{}' was not kept: {}", name,
                               reply.error().message);
             }
         });
}

void RedisJobStore::schedule_advanced(std::string_view name, proto::Timestamp from,
                                      std::optional<proto::Timestamp> next_at) {
    advances_.insert_or_assign(std::string(name), Advance{from, next_at});
    send_later();
}

void RedisJobStore::schedule_removed(std::string_view name) {
    ++schedule_writes_;
    call(scripts_->schedule, {"del", std::string(name)}, [](Result<RedisReply>) {});
}

void RedisJobStore::schedules(SchedulesRead read) {
    read_schedules({}, std::move(read));
}

void RedisJobStore::read_schedules(std::vector<std::string> names, SchedulesRead read) {
    names.insert(names.begin(), "read");
    call(scripts_->schedule, std::move(names), [read = std::move(read)](Result<RedisReply> reply) {
        if (!reply || reply->kind != Kind::array) {
            read(reply ? broken("reading the schedules", *reply) : reply.error());
            return;
        }
        std::vector<proto::ScheduleInfo> out;
        const auto& e = reply->elements;
        for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
            if (e[i + 1].elements.empty()) {
                continue;  // gone
            }
            if (auto schedule = read_schedule(e[i + 1])) {
                out.push_back(std::move(*schedule));
            } else {
                spdlog::error("cluster: schedule '{}': {}", e[i].text, schedule.error().message);
            }
        }
        read(std::move(out));
    });
}

void RedisJobStore::refresh_schedules(std::vector<std::string> names) {
    read_schedules(names, [this, names, writes = schedule_writes_](auto read) {
        // A read sent before this node wrote a schedule may hold what the write
        // changed: adopted, it would bring back a schedule just deleted here. It is
        // read again, after the write.
        if (writes != schedule_writes_) {
            refresh_schedules(names);
            return;
        }
        // Unread, they are read again once Redis is back.
        if (read && events_.schedules_read) {
            events_.schedules_read(names, std::move(*read));
        }
    });
}

}  // namespace taskpool::daemon::cluster
