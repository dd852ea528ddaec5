#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/system_timer.hpp>

#include "cron.hpp"
#include "job_store.hpp"
#include "proto/schedule.hpp"

namespace taskpool::daemon::sched {

class Scheduler;

/// How a schedule has fired since the daemon started, for metrics.
struct ScheduleFirings {
    std::string name;
    std::uint64_t submitted = 0;
    std::uint64_t refused = 0;   // its job was not accepted (an unknown task, a full queue)
    double last_lateness_s = 0;  // how long after its time the last firing came
};

/// Recurring schedules (PROTOCOL.md 13): each fires one job with `schedule: NAME`
/// when its cron or every_s says, through the scheduler like any submit, on one
/// timer armed for the earliest. A schedule's next time is kept with it (in the
/// journal, where there is one), written in the same commit as the job a firing
/// submits, so that a crash neither loses a firing nor repeats one. After the
/// daemon was down, a schedule whose time passed fires once (`catch_up: one`) or
/// skips to its next time (`none`).
///
/// Schedules from the config are the config's: ops may not change them.
///
/// In a shared store (cluster mode) each daemon keeps a copy of the schedules,
/// read again whenever any of them changes them, and fires them on its own timer;
/// the store moves a schedule on from a time only once, with the job of that
/// firing, and a daemon that fires it later gets that job. On the io thread only.
class Schedules {
public:
    Schedules(asio::io_context& io, Scheduler& scheduler, JobStore& store);
    Schedules(const Schedules&) = delete;
    Schedules& operator=(const Schedules&) = delete;

    /// Before start(): the config's schedules and what the journal kept. A kept
    /// schedule of the config keeps its times while the config says the same of it.
    /// bad_request where a schedule's cron cannot be read.
    proto::Result<void> restore(const std::vector<proto::ScheduleSpec>& config,
                                const std::vector<proto::ScheduleInfo>& kept);
    /// Arms the timer; a schedule whose time passed while the daemon was down
    /// fires now or skips, as its catch_up says.
    void start();

    /// Sets or replaces a schedule (its last firing stays): bad_request for a
    /// cron that cannot be read or a name the config holds; what its jobs would be
    /// is checked as a submit's.
    proto::Result<proto::ScheduleInfo> set(proto::ScheduleSpec spec);
    /// no_such_schedule, or bad_request for one of the config's.
    proto::Result<void> remove(std::string_view name);
    std::vector<proto::ScheduleInfo> list() const;
    /// A shared store's schedules as read again: those `named` (none named: all)
    /// are as `found` has them, or gone.
    void adopt(const std::vector<std::string>& named, std::vector<proto::ScheduleInfo> found);
    std::vector<ScheduleFirings> firings() const;

private:
    struct Entry {
        proto::ScheduleInfo info;
        std::optional<Cron> cron;  // none: every_s
        ScheduleFirings firings;
    };

    /// Reads a spec's cron and makes its entry, its next time from `now`.
    static proto::Result<Entry> make_entry(proto::ScheduleSpec spec, bool from_config,
                                           proto::Timestamp now);
    /// Whether the jobs it makes would be accepted, as far as a submit is checked
    /// before there is a queue to join.
    proto::Result<void> check_job(const proto::ScheduleSpec& spec) const;
    /// The first time after `now` that the schedule fires: for every_s the next
    /// step of its cadence from `from` (the time it last had).
    static std::optional<proto::Timestamp> next_time(const Entry& e, proto::Timestamp from,
                                                     proto::Timestamp now);
    void fire(Entry& e, proto::Timestamp now);
    static void refused(Entry& e, const proto::Error& error);
    void arm();
    void on_timer();

    Scheduler& scheduler_;
    JobStore& store_;
    std::map<std::string, Entry, std::less<>> entries_;
    asio::system_timer timer_;
    bool started_ = false;
};

}  // namespace taskpool::daemon::sched
