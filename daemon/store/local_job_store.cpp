#include "local_job_store.hpp"

#include <algorithm>
#include <memory>

namespace taskpool::daemon::store {

LocalJobStore::LocalJobStore(Settings settings, Journal* journal)
    : settings_(settings),
      journal_(journal),
      table_(settings.ttl, settings.max_retained, settings.max_retained_bytes) {}

void LocalJobStore::add(std::span<JobRecord> records, Added added) {
    if (journal_ == nullptr || records.empty()) {
        insert(records, added);
        return;
    }
    auto pool = static_cast<std::size_t>(records.front().job.pool);
    for (const auto& r : records) {  // appended together, so a map commits whole or not at all
        journal_->append(write::JobAccepted{r});
        if (r.key) {
            adding_keys_.insert(*r.key);
        }
    }
    adding_[pool] += records.size();
    auto shared = std::make_shared<std::vector<JobRecord>>(std::make_move_iterator(records.begin()),
                                                           std::make_move_iterator(records.end()));
    journal_->after_commit([this, pool, shared, added = std::move(added)](bool committed) mutable {
        adding_[pool] -= shared->size();
        for (const auto& r : *shared) {
            if (r.key) {
                adding_keys_.erase(*r.key);
            }
        }
        if (committed) {
            insert(*shared, added);
        } else {
            added(unavailable("nothing was accepted"));
        }
    });
}

void LocalJobStore::insert(std::span<JobRecord> records, const Added& added) {
    // The list is kept for its capacity, and taken out while in use: an add() made
    // from `added` gets one of its own.
    auto inserted = std::move(inserted_);
    inserted.clear();
    for (auto& record : records) {
        inserted.push_back(&table_.insert(std::move(record)));
    }
    added(std::span<JobRecord* const>(inserted));
    inserted_ = std::move(inserted);
}

bool LocalJobStore::adding_key(std::string_view key) const {
    return adding_keys_.contains(std::string(key));
}

std::vector<JobRecord*> LocalJobStore::restore(std::vector<sched::StoredJob> jobs) {
    auto now = proto::now_timestamp();
    auto steady_now = std::chrono::steady_clock::now();
    std::vector<JobRecord*> kept;
    std::vector<JobRecord*> finished;
    for (auto& stored : jobs) {
        if (proto::is_final(stored.job.state) && now - *stored.job.finished_at >= settings_.ttl) {
            if (journal_ != nullptr) {
                journal_->append(write::JobRemoved{stored.seq});
            }
            continue;
        }
        JobRecord record;
        static_cast<sched::StoredJob&>(record) = std::move(stored);
        JobRecord& r = table_.insert(std::move(record));
        kept.push_back(&r);
        if (proto::is_final(r.job.state)) {
            finished.push_back(&r);
        }
    }
    // Retained in finishing order, each for what is left of its time.
    std::sort(finished.begin(), finished.end(), [](const JobRecord* a, const JobRecord* b) {
        return *a->job.finished_at < *b->job.finished_at;
    });
    for (JobRecord* r : finished) {
        table_.retain(*r, steady_now - (now - *r->job.finished_at));
    }
    return kept;
}

void LocalJobStore::lookup(std::span<const std::string> ids, Found found) {
    if (ids.size() == 1) {  // a get or a cancel: nothing to allocate
        JobRecord* r = table_.find(ids.front());
        found(std::span<JobRecord* const>(&r, 1));
        return;
    }
    std::vector<JobRecord*> records;
    records.reserve(ids.size());
    for (const auto& id : ids) {
        records.push_back(table_.find(id));
    }
    found(std::span<JobRecord* const>(records));
}

void LocalJobStore::list(const proto::ListRequest& query, Listed listed) {
    const JobRecord* before = nullptr;
    if (query.before && (before = table_.find(*query.before)) == nullptr) {
        listed(proto::no_job_to_list_from(*query.before));
        return;
    }
    auto wanted = [&query](const proto::Job& job) {
        return (!query.state || job.state == *query.state) &&
               (!query.prefix || job.id.starts_with(*query.prefix)) &&
               (!query.contains || job.id.find(*query.contains) != std::string::npos) &&
               (!query.task || job.task == *query.task) &&
               (!query.queue || (job.queue && *job.queue == *query.queue)) &&
               (!query.batch || (job.batch && *job.batch == *query.batch));
    };
    std::vector<const proto::Job*> jobs;
    auto limit = static_cast<std::size_t>(query.limit);
    auto visit = [&](const JobRecord& r) {
        if (wanted(r.job)) {
            jobs.push_back(&r.job);
        }
        return jobs.size() < limit;
    };
    before != nullptr ? table_.older_than(*before, visit) : table_.newest_first(visit);
    listed(std::span<const proto::Job* const>(jobs));
}

void LocalJobStore::newest_first(const std::function<bool(JobRecord&)>& visit) {
    table_.newest_first(visit);
}

LocalJobStore::Queue& LocalJobStore::lane(const JobRecord& r) {
    auto& lanes = lanes_[static_cast<std::size_t>(r.job.pool)];
    LaneRef key{r.job.pool == proto::PoolKind::remote ? std::string_view(r.job.task) : "",
                r.job.queue ? std::string_view(*r.job.queue) : ""};
    auto it = lanes.find(key);
    if (it == lanes.end()) {
        it = lanes.emplace(LaneKey{std::string(key.task), std::string(key.queue)}, Queue()).first;
    }
    return it->second;
}

void LocalJobStore::count_runnable(const JobRecord& r, bool one_more) {
    auto change = [one_more](std::size_t& count) { one_more ? ++count : --count; };
    change(runnable_[static_cast<std::size_t>(r.job.pool)]);
    if (r.job.queue) {
        auto it = runnable_in_.find(*r.job.queue);
        if (it == runnable_in_.end()) {
            it = runnable_in_.emplace(*r.job.queue, 0).first;
        }
        change(it->second);
    }
}

void LocalJobStore::make_runnable(JobRecord& r) {
    lane(r).push(r.job.priority, r.seq, &r);
    count_runnable(r, true);
}

template <class EachLane>
JobRecord* LocalJobStore::take_best(sched::QueueGate& gate, EachLane&& each_lane) {
    Queue* best = nullptr;
    std::pair<int, std::uint64_t> best_head{};
    each_lane([&](const LaneKey& key, Queue& q) {
        auto head = q.head();
        // Higher priority first, then the lower seq: the earlier arrival. The gate
        // is asked only of a lane that would be taken from.
        if (head &&
            (best == nullptr || head->first > best_head.first ||
             (head->first == best_head.first && head->second < best_head.second)) &&
            (key.queue.empty() || gate.open(key.queue))) {
            best = &q;
            best_head = *head;
        }
    });
    if (best == nullptr) {
        return nullptr;
    }
    JobRecord* r = *best->pop();
    count_runnable(*r, false);
    return r;
}

JobRecord* LocalJobStore::take_runnable(proto::PoolKind pool, sched::QueueGate& gate) {
    auto& lanes = lanes_[static_cast<std::size_t>(pool)];
    if (lanes.size() == 1 && lanes.begin()->first.queue.empty()) {
        // No named queue on this pool: one lane, nothing to choose (the usual case).
        auto next = lanes.begin()->second.pop();
        if (next) {
            count_runnable(**next, false);
        }
        return next.value_or(nullptr);
    }
    return take_best(gate, [&](auto&& visit) {
        for (auto& [key, q] : lanes) {
            visit(key, q);
        }
    });
}

JobRecord* LocalJobStore::take_runnable(proto::PoolKind pool,
                                        std::span<const std::string_view> tasks,
                                        sched::QueueGate& gate) {
    if (pool != proto::PoolKind::remote) {
        return take_runnable(pool, gate);
    }
    auto& lanes = lanes_[static_cast<std::size_t>(pool)];
    return take_best(gate, [&](auto&& visit) {
        for (auto task : tasks) {  // each task's lanes, one per queue
            for (auto it = lanes.lower_bound(LaneRef{task, ""});
                 it != lanes.end() && it->first.task == task; ++it) {
                visit(it->first, it->second);
            }
        }
    });
}

void LocalJobStore::withdraw_runnable(const JobRecord& r) {
    if (lane(r).remove(r.job.priority, r.seq)) {
        count_runnable(r, false);
    }
}

std::size_t LocalJobStore::runnable_in(std::string_view queue) const {
    auto it = runnable_in_.find(queue);
    return it == runnable_in_.end() ? 0 : it->second;
}

std::size_t LocalJobStore::runnable_in(std::string_view queue, proto::PoolKind pool) const {
    std::size_t count = 0;
    for (const auto& [key, q] : lanes_[static_cast<std::size_t>(pool)]) {
        if (key.queue == queue) {
            count += q.size();
        }
    }
    return count;
}

void LocalJobStore::started(const JobRecord& r) {
    if (journal_ != nullptr) {
        journal_->append(
            write::JobStarted{r.seq, r.job.attempts, *r.job.worker, *r.job.started_at});
    }
}

void LocalJobStore::requeued(const JobRecord& r) {
    if (journal_ != nullptr) {
        journal_->append(write::JobRequeued{r.seq, r.retries_left, r.job.scheduled_for});
    }
}

void LocalJobStore::returned(const JobRecord& r) {
    if (journal_ != nullptr) {
        journal_->append(write::JobReturned{r.seq, r.job.attempts});
    }
}

void LocalJobStore::released(const JobRecord& r) {
    if (journal_ != nullptr) {
        journal_->append(write::JobReleased{r.seq});
    }
}

void LocalJobStore::retried(JobRecord& r) {
    table_.release(r);
    if (journal_ != nullptr) {
        journal_->append(write::JobRetried{r.seq});
    }
}

void LocalJobStore::finished(const JobRecord& r, Durable durable) {
    if (journal_ == nullptr) {
        durable(r.seq, {});
        return;
    }
    journal_->append(write::JobFinished{r.seq, r.job.state, *r.job.finished_at, r.job.result,
                                        r.job.error, r.job.then_job, r.job.then_error});
    journal_->after_commit(
        [seq = r.seq, durable = std::move(durable)](bool) mutable { durable(seq, {}); });
}

void LocalJobStore::queue_set(const proto::QueueSetRequest& set) {
    if (journal_ != nullptr) {
        journal_->append(write::QueueSet{set});
    }
}

void LocalJobStore::queue_paused(std::string_view queue, bool paused) {
    if (journal_ != nullptr) {
        journal_->append(write::QueuePaused{std::string(queue), paused});
    }
}

void LocalJobStore::pool_paused(proto::PoolKind pool, bool paused) {
    if (journal_ != nullptr) {
        journal_->append(write::PoolPaused{pool, paused});
    }
}

void LocalJobStore::schedule_kept(const proto::ScheduleInfo& schedule) {
    if (journal_ != nullptr) {
        journal_->append(write::ScheduleKept{schedule});
    }
}

void LocalJobStore::schedule_advanced(std::string_view name, proto::Timestamp /*from*/,
                                      std::optional<proto::Timestamp> next_at) {
    if (journal_ != nullptr) {
        journal_->append(write::ScheduleAdvanced{std::string(name), next_at});
    }
}

void LocalJobStore::schedule_removed(std::string_view name) {
    if (journal_ != nullptr) {
        journal_->append(write::ScheduleRemoved{std::string(name)});
    }
}

void LocalJobStore::retain(JobRecord& r) {
    table_.retain(r, std::chrono::steady_clock::now());
}

void LocalJobStore::expire(SteadyTime now) {
    table_.evict_expired(now, [&](const JobRecord& r) {
        if (journal_ != nullptr) {
            journal_->append(write::JobRemoved{r.seq});
        }
    });
}

void LocalJobStore::when_durable(base::Callback<void()> f) {
    if (journal_ == nullptr) {
        f();
        return;
    }
    journal_->after_commit([f = std::move(f)](bool) mutable { f(); });
}

proto::Error LocalJobStore::unavailable(std::string_view consequence) const {
    if (journal_ == nullptr) {
        return {proto::ErrorCode::unavailable, std::string(consequence)};
    }
    return journal_->unavailable(consequence);
}

}  // namespace taskpool::daemon::store
