#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "daemon/base/callback.hpp"
#include "journal_writes.hpp"
#include "proto/error.hpp"

namespace taskpool::daemon::store {

enum class Sync {
    normal,  // survives a crash of the daemon (WAL, fsync at checkpoints)
    full,    // also survives power loss (fsync at every commit)
};

/// What the journal held when the daemon started.
struct Restored {
    std::vector<sched::StoredJob> jobs;  // in arrival order
    std::vector<std::pair<std::string, nlohmann::json>> kv;
    std::vector<StoredDelivery> deliveries;
    std::vector<std::pair<std::string, std::string>> remote_tasks;  // name, description
    std::vector<StoredQueue> queues;                                // those set at run time
    std::vector<proto::PoolKind> paused_pools;
    std::vector<proto::ScheduleInfo> schedules;
};

/// How the journal is doing, for `stats` (and /healthz).
struct JournalHealth {
    bool writable = true;
    std::string error;  // why the last commit failed, while not writable
    std::uint64_t commits = 0;
    std::uint64_t writes = 0;
};

/// The SQLite journal (`store.path`): jobs, kv values, undelivered webhooks, the
/// tasks remote workers serve, queue limits and pauses set at run time, and
/// schedules with their times, so that what the daemon acknowledged survives a
/// kill -9 (STYLE.md habit 11).
///
/// Group commit: the io thread appends writes to an outbox of its own and hands the
/// outbox over once per turn of the io loop (one lock, one wake-up for all the
/// submits of a read); a writer thread of the journal's own commits whatever has
/// gathered, many writes per transaction, so the io thread never waits on the disk;
/// a job that started and ended since the last commit has its run written once.
/// after_commit() calls back on the io thread once everything appended before it
/// is committed (or failed to be): that is when a submit is acknowledged. When a commit fails (disk
/// full, read-only) its new jobs are dropped, since their submits are told `unavailable`, and every
/// other write is kept and tried again, every second, until one commits.
///
/// Thread-safety: append(), after_commit() and the callbacks on the io thread;
/// append_from_any_thread() and health() from any thread; restore() before start().
/// The connection belongs to the writer thread once started.
class Journal {
public:
    /// Opens the file, creating it if missing. Throws std::runtime_error naming the
    /// file when it cannot be opened, is not a journal, or is corrupt.
    Journal(asio::io_context& io, const std::string& path, Sync sync);
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;

    /// Reads everything back. A record that cannot be read is logged and skipped.
    Restored restore();
    /// Starts the writer.
    void start();

    /// Writes appended in one handler on the io thread are handed to the writer
    /// together, so they commit together or not at all (the jobs of one map).
    void append(Write write);
    /// As append(), from a thread other than the io thread (the webhook sender).
    void append_from_any_thread(Write write);
    /// Calls `done(committed)` on the io thread once every write appended so far has
    /// been committed, or has failed to be.
    /// Large enough for the store's callbacks, which carry the scheduler's.
    using Committed = base::Callback<void(bool), 128>;
    void after_commit(Committed done);

    JournalHealth health() const;
    /// `unavailable`: why the journal cannot be written, and what that means here.
    proto::Error unavailable(std::string_view consequence) const;
    const std::string& path() const { return path_; }
    /// Commits what is left, then stops the writer. On the io thread, once its loop
    /// has stopped.
    void stop();

private:
    struct Db;
    void run();
    bool commit(std::vector<Write>& writes);
    void completed(std::uint64_t end, bool ok);
    /// Hands the io thread's outbox to the writer.
    void flush();

    asio::io_context& io_;
    std::string path_;
    std::unique_ptr<Db> db_;  // the writer thread's, once started

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Write> inbox_;    // guarded by mutex_
    std::uint64_t appended_ = 0;  // guarded by mutex_: writes appended since start
    bool stopping_ = false;       // guarded by mutex_
    std::string error_;           // guarded by mutex_
    std::atomic<bool> writable_ = true;
    std::atomic<std::uint64_t> commits_ = 0;
    std::atomic<std::uint64_t> writes_ = 0;

    // io thread only
    std::vector<Write> outbox_;
    std::vector<Committed> outbox_waiting_;  // for the next flush
    bool flush_posted_ = false;
    std::uint64_t flushed_ = 0;  // appended_ after the last flush
    std::deque<std::pair<std::uint64_t, Committed>> waiting_;
    std::uint64_t completed_ = 0;

    std::thread thread_;
};

}  // namespace taskpool::daemon::store
