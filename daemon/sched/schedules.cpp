#include "schedules.hpp"

#include <cmath>
#include <set>

#include <spdlog/spdlog.h>

#include "proto/request.hpp"
#include "scheduler.hpp"

namespace taskpool::daemon::sched {
namespace {

using proto::Timestamp;
using std::chrono::milliseconds;

bool same_fields(const proto::ScheduleSpec& a, const proto::ScheduleSpec& b) {
    return proto::schedule_fields(a) == proto::schedule_fields(b);
}

std::chrono::system_clock::time_point wall(Timestamp t) {
    return std::chrono::system_clock::time_point(t.time_since_epoch());
}

}  // namespace

Schedules::Schedules(asio::io_context& io, Scheduler& scheduler, JobStore& store)
    : scheduler_(scheduler), store_(store), timer_(io) {}

proto::Result<Schedules::Entry> Schedules::make_entry(proto::ScheduleSpec spec, bool from_config,
                                                      Timestamp now) {
    Entry e;
    if (spec.cron) {
        auto cron = Cron::parse(*spec.cron);
        if (!cron) {
            return cron.error();
        }
        e.cron = std::move(*cron);
    }
    e.firings.name = spec.name;
    e.info.spec = std::move(spec);
    e.info.from_config = from_config;
    if (!e.info.spec.paused) {
        // every_s first fires every_s after it is set.
        e.info.next_at = e.cron ? e.cron->next(now)
                                : now + milliseconds(std::llround(*e.info.spec.every_s * 1000));
    }
    return e;
}

proto::Result<void> Schedules::check_job(const proto::ScheduleSpec& spec) const {
    auto request = proto::scheduled_request(spec);
    if (!request) {
        return request.error();
    }
    return scheduler_.check({std::move(request->task),
                             std::move(request->args),
                             std::nullopt,
                             request->options,
                             {},
                             {}});
}

std::optional<Timestamp> Schedules::next_time(const Entry& e, Timestamp from, Timestamp now) {
    if (e.info.spec.paused) {
        return std::nullopt;
    }
    if (e.cron) {
        return e.cron->next(now);
    }
    // The cadence holds from the time it had, however late this firing came.
    auto step = milliseconds(std::llround(*e.info.spec.every_s * 1000));
    auto steps = now < from ? 0 : (now - from) / step;
    return from + step * (steps + 1);
}

proto::Result<void> Schedules::restore(const std::vector<proto::ScheduleSpec>& config,
                                       const std::vector<proto::ScheduleInfo>& kept) {
    auto now = proto::now_timestamp();
    std::map<std::string_view, const proto::ScheduleInfo*> kept_by_name;
    for (const auto& k : kept) {
        kept_by_name.emplace(k.spec.name, &k);
    }
    for (const auto& spec : config) {
        auto entry = make_entry(spec, true, now);
        if (!entry) {
            return proto::bad_request("schedules." + spec.name + ": " + entry.error().message);
        }
        if (auto checked = check_job(spec); !checked) {
            return proto::bad_request("schedules." + spec.name + ": " + checked.error().message);
        }
        auto it = kept_by_name.find(spec.name);
        bool kept_as_is = false;
        if (it != kept_by_name.end()) {
            const auto& k = *it->second;
            entry->info.last_at = k.last_at;
            entry->info.last_job = k.last_job;
            kept_as_is = k.from_config && same_fields(k.spec, spec);
            if (kept_as_is) {
                entry->info.next_at = k.next_at;  // its cadence goes on
            } else if (!k.from_config) {
                spdlog::warn("schedule '{}': the config's replaces the one an op set", spec.name);
            }
        }
        if (!kept_as_is) {
            store_.schedule_kept(entry->info);
        }
        entries_.insert_or_assign(spec.name, std::move(*entry));
    }
    for (const auto& k : kept) {
        if (entries_.contains(k.spec.name)) {
            continue;
        }
        // In a shared store another daemon's config may hold it: it stays theirs.
        if (k.from_config && !store_.shared()) {
            spdlog::info("schedule '{}' is no longer in the config: removed", k.spec.name);
            store_.schedule_removed(k.spec.name);
            continue;
        }
        auto entry = make_entry(k.spec, false, now);
        if (!entry) {
            spdlog::warn("schedule '{}' kept in the journal cannot be read ({}): removed",
                         k.spec.name, entry.error().message);
            store_.schedule_removed(k.spec.name);
            continue;
        }
        entry->info = k;
        entries_.insert_or_assign(k.spec.name, std::move(*entry));
    }
    return {};
}

void Schedules::start() {
    started_ = true;
    auto now = proto::now_timestamp();
    for (auto& [name, e] : entries_) {
        auto& next = e.info.next_at;
        if (next && *next <= now && e.info.spec.catch_up == proto::CatchUp::none) {
            spdlog::info("schedule '{}': its time {} passed while the daemon was down: skipped",
                         name, proto::format_timestamp(*next));
            auto from = *next;
            next = next_time(e, from, now);
            store_.schedule_advanced(name, from, next);
        }
    }
    arm();  // what is due (catch_up one) fires at once, once
}

proto::Result<proto::ScheduleInfo> Schedules::set(proto::ScheduleSpec spec) {
    auto it = entries_.find(spec.name);
    if (it != entries_.end() && it->second.info.from_config) {
        return proto::bad_request("field 'name': schedule '" + spec.name +
                                  "' is the config's (schedules." + spec.name +
                                  "): change it there");
    }
    if (it == entries_.end() && entries_.size() >= proto::max_schedules) {
        return proto::bad_request("field 'name': this daemon keeps at most " +
                                  std::to_string(proto::max_schedules) +
                                  " schedules; delete one (schedule.del) first");
    }
    if (auto checked = check_job(spec); !checked) {
        return checked.error();
    }
    auto entry = make_entry(std::move(spec), false, proto::now_timestamp());
    if (!entry) {
        return entry.error();
    }
    if (it != entries_.end()) {
        entry->info.last_at = it->second.info.last_at;
        entry->info.last_job = it->second.info.last_job;
        entry->firings = it->second.firings;
    }
    auto name = entry->info.spec.name;
    store_.schedule_kept(entry->info);
    auto& kept = entries_.insert_or_assign(name, std::move(*entry)).first->second;
    arm();
    return kept.info;
}

proto::Result<void> Schedules::remove(std::string_view name) {
    auto it = entries_.find(name);
    if (it == entries_.end()) {
        return proto::Error{proto::ErrorCode::no_such_schedule,
                            "no schedule '" + std::string(name) + "'"};
    }
    if (it->second.info.from_config) {
        return proto::bad_request("field 'name': schedule '" + std::string(name) +
                                  "' is the config's (schedules." + std::string(name) +
                                  "): remove it there");
    }
    store_.schedule_removed(name);
    entries_.erase(it);
    arm();
    return {};
}

void Schedules::adopt(const std::vector<std::string>& named,
                      std::vector<proto::ScheduleInfo> found) {
    std::set<std::string, std::less<>> present;
    for (auto& info : found) {
        auto name = info.spec.name;
        auto entry = make_entry(info.spec, info.from_config, proto::now_timestamp());
        if (!entry) {
            spdlog::warn("schedule '{}' cannot be read here ({}): other daemons fire it", name,
                         entry.error().message);
            continue;
        }
        present.insert(name);
        if (auto it = entries_.find(name); it != entries_.end()) {
            entry->firings = it->second.firings;
        }
        entry->info = std::move(info);
        entries_.insert_or_assign(name, std::move(*entry));
    }
    if (named.empty()) {
        std::erase_if(entries_, [&](const auto& e) { return !present.contains(e.first); });
    }
    for (const auto& name : named) {
        if (!present.contains(name)) {
            entries_.erase(name);
        }
    }
    arm();
}

std::vector<proto::ScheduleInfo> Schedules::list() const {
    std::vector<proto::ScheduleInfo> out;
    out.reserve(entries_.size());
    for (const auto& [name, e] : entries_) {
        out.push_back(e.info);
    }
    return out;
}

std::vector<ScheduleFirings> Schedules::firings() const {
    std::vector<ScheduleFirings> out;
    out.reserve(entries_.size());
    for (const auto& [name, e] : entries_) {
        out.push_back(e.firings);
    }
    return out;
}

void Schedules::fire(Entry& e, Timestamp now) {
    const auto& name = e.info.spec.name;
    auto due = *e.info.next_at;
    e.info.next_at = next_time(e, due, now);
    e.firings.last_lateness_s = std::chrono::duration<double>(now - due).count();
    // Written in this turn of the io loop, as is the job below: they commit together.
    store_.schedule_advanced(name, due, e.info.next_at);
    auto request = proto::scheduled_request(e.info.spec);
    if (!request) {
        refused(e, request.error());
        return;
    }
    JobSpec spec{std::move(request->task),
                 std::move(request->args),
                 std::nullopt,
                 std::move(request->options),
                 {},
                 name};
    scheduler_.submit(std::move(spec), 0, [this, name](proto::Result<const proto::Job*> job) {
        auto it = entries_.find(name);
        if (it == entries_.end()) {
            return;  // removed meanwhile
        }
        auto& fired = it->second;
        if (!job) {
            refused(fired, job.error());
            return;
        }
        ++fired.firings.submitted;
        fired.info.last_at = (*job)->submitted_at;
        fired.info.last_job = (*job)->id;
    });
}

void Schedules::refused(Entry& e, const proto::Error& error) {
    ++e.firings.refused;
    spdlog::warn("schedule '{}': its job was refused: {}", e.info.spec.name, error.message);
}

void Schedules::arm() {
    if (!started_) {
        return;
    }
    std::optional<Timestamp> earliest;
    for (const auto& [name, e] : entries_) {
        if (e.info.next_at && (!earliest || *e.info.next_at < *earliest)) {
            earliest = e.info.next_at;
        }
    }
    if (!earliest) {
        timer_.cancel();
        return;
    }
    timer_.expires_at(wall(*earliest));
    timer_.async_wait([this](std::error_code ec) {
        if (!ec) {
            on_timer();
        }
    });
}

void Schedules::on_timer() {
    if (!scheduler_.accepting()) {
        return;  // shutting down: what is due now fires after the restart
    }
    auto now = proto::now_timestamp();
    for (auto& [name, e] : entries_) {
        if (e.info.next_at && *e.info.next_at <= now) {
            fire(e, now);
        }
    }
    arm();
}

}  // namespace taskpool::daemon::sched
