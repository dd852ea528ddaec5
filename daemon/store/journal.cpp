#include "journal.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <asio/post.hpp>

#include "daemon/base/io_thread_signals.hpp"
#include "proto/json_writer.hpp"
#include "sqlite.hpp"

namespace taskpool::daemon::store {
namespace {

using nlohmann::json;
using sched::StoredJob;

// Marks the file as ours ("tpj1"), and the layout of its tables.
constexpr std::int64_t application_id = 0x74706A31;
constexpr std::int64_t format_version = 7;

// Removals of expired jobs per transaction: a burst of them (a large map expiring
// at once) is spread over several commits, so submits never wait behind it.
constexpr std::size_t max_removals_per_commit = 2000;
// How soon writes kept from a failed commit are tried again.
constexpr auto retry_interval = std::chrono::seconds(1);

// A job's request never changes; its latest attempt and end live beside it in
// `runs`, so that ending a job inserts a short row instead of rewriting the long
// one (format 2; format 1 had one table). Format 3 added `submitted_by`; format 4
// the remote worker of a run (`worker_id`, `worker_name`) and `remote_tasks`; format
// 5 a job's `retry_backoff_s`, `scheduled_for`, `after` and `then` (and in `runs`
// the follow-up's id, `then_job`, or `then_error`): the time in `jobs` as
// submitted, in `runs` as set by a back-off; format 6 a job's named `queue`, and
// the `queues` and `paused_pools` set at run time; format 7 a job's `schedule` and
// its map's `then` (`batch_then`, on each job of the batch, and the batch's
// `batch_size`), and the `schedules`.
// A job without a row in `runs` is as submitted: waiting if it has `after`, else
// scheduled if due later, else queued.
constexpr const char* jobs_table = R"sql(
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    idem_key TEXT,
    task TEXT NOT NULL,
    args TEXT NOT NULL,
    pool TEXT NOT NULL,
    priority INTEGER NOT NULL,
    batch TEXT,
    timeout_s REAL,
    retries_left INTEGER NOT NULL,
    callback TEXT,
    submitted_at INTEGER NOT NULL,
    submitted_by TEXT,
    retry_backoff_s REAL,
    scheduled_for INTEGER,
    after TEXT,
    then_spec TEXT,
    queue TEXT,
    schedule TEXT,
    batch_then TEXT,
    batch_size INTEGER
);
)sql";

// No row: the job has neither started nor ended yet.
constexpr const char* runs_table = R"sql(
CREATE TABLE runs (
    seq INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    worker_pid INTEGER,
    worker_thread INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    result TEXT,
    error_code TEXT,
    error_message TEXT,
    worker_id TEXT,
    worker_name TEXT,
    scheduled_for INTEGER,
    then_job TEXT,
    then_error TEXT
);
)sql";

constexpr const char* other_tables = R"sql(
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE webhooks (id TEXT PRIMARY KEY, url TEXT NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;
)sql";

// Tasks that remote workers have served, known again after a restart before any
// worker registers (format 4).
constexpr const char* remote_tasks_table = R"sql(
CREATE TABLE remote_tasks (name TEXT PRIMARY KEY, description TEXT NOT NULL) WITHOUT ROWID;
)sql";

// What ops set of queues and pools (format 6): a limit an op named, as text ("5",
// "10/s", or "none" for none), over the config's, which are never written (NULL:
// as the config says); and pauses.
constexpr const char* queue_tables = R"sql(
CREATE TABLE queues (
    name TEXT PRIMARY KEY,
    max_concurrency TEXT,
    rate_limit TEXT,
    paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE paused_pools (name TEXT PRIMARY KEY) WITHOUT ROWID;
)sql";

// Recurring schedules (format 7): each one's fields as `schedule.set` takes them,
// whether it is the config's, and its times. A job a firing submits sets last_at
// and last_job in the commit that writes it.
constexpr const char* schedules_table = R"sql(
CREATE TABLE schedules (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    from_config INTEGER NOT NULL,
    next_at INTEGER,
    last_at INTEGER,
    last_job TEXT
) WITHOUT ROWID;
)sql";

// Format 1 to 2, once its `jobs` is renamed `jobs_1`: the run columns move to `runs`.
constexpr const char* from_format_1 = R"sql(
INSERT INTO runs (seq, state, attempts, worker_pid, worker_thread, started_at, finished_at,
                  result, error_code, error_message)
    SELECT seq, state, attempts, worker_pid, worker_thread, started_at, finished_at, result,
           error_code, error_message
    FROM jobs_1 WHERE state <> 'queued' OR attempts > 0;
INSERT INTO jobs (seq, id, idem_key, task, args, pool, priority, batch, timeout_s,
                  retries_left, callback, submitted_at)
    SELECT seq, id, idem_key, task, args, pool, priority, batch, timeout_s, retries_left,
           callback, submitted_at
    FROM jobs_1;
DROP TABLE jobs_1;
)sql";

constexpr const char* select_jobs = R"sql(
SELECT seq, id, idem_key, task, args, pool, priority, batch, timeout_s, retries_left,
       callback, submitted_at, submitted_by,
       coalesce(state, iif(after IS NOT NULL, 'waiting',
                           iif(jobs.scheduled_for IS NULL, 'queued', 'scheduled'))),
       coalesce(attempts, 0), worker_pid, worker_thread, started_at, finished_at, result,
       error_code, error_message, worker_id, worker_name, retry_backoff_s,
       coalesce(runs.scheduled_for, jobs.scheduled_for), after, then_spec, then_job,
       then_error, queue, schedule, batch_then, batch_size
FROM jobs LEFT JOIN runs USING (seq) ORDER BY seq)sql";

std::int64_t millis(proto::Timestamp t) {
    return t.time_since_epoch().count();
}

proto::Timestamp timestamp(std::int64_t ms) {
    return proto::Timestamp(std::chrono::milliseconds(ms));
}

/// The journal's opening checks: readable, ours, intact, a format we know.
void open_checks(Database& db, Sync sync) {
    db.exec("PRAGMA locking_mode = EXCLUSIVE");                  // one daemon per journal
    std::string check = db.query_text("PRAGMA quick_check(1)");  // the first problem only
    if (check != "ok") {
        std::replace(check.begin(), check.end(), '\n', ' ');
        throw std::runtime_error("it is corrupt (" + check + ")");
    }
    auto app = db.query_integer("PRAGMA application_id");
    auto version = db.query_integer("PRAGMA user_version");
    auto tables = db.query_integer("SELECT count(*) FROM sqlite_schema");
    if (app == 0 && version == 0 && tables == 0) {
        db.exec("BEGIN");
        db.exec(jobs_table);
        db.exec(runs_table);
        db.exec(other_tables);
        db.exec(remote_tasks_table);
        db.exec(queue_tables);
        db.exec(schedules_table);
        db.exec("PRAGMA application_id = " + std::to_string(application_id));
        db.exec("PRAGMA user_version = " + std::to_string(format_version));
        db.exec("COMMIT");
    } else if (app != application_id) {
        throw std::runtime_error("it is an SQLite database but not a taskpool journal");
    } else if (version > format_version) {
        throw std::runtime_error("it was written by a newer taskpoold (format " +
                                 std::to_string(version) + ")");
    } else if (version < format_version) {
        db.exec("BEGIN");
        if (version == 1) {  // to the tables of today at once
            db.exec("ALTER TABLE jobs RENAME TO jobs_1");
            db.exec(jobs_table);
            db.exec(runs_table);
            db.exec(from_format_1);
        } else {
            if (version == 2) {
                db.exec("ALTER TABLE jobs ADD COLUMN submitted_by TEXT");
            }
            if (version <= 3) {
                db.exec("ALTER TABLE runs ADD COLUMN worker_id TEXT");
                db.exec("ALTER TABLE runs ADD COLUMN worker_name TEXT");
            }
            if (version <= 4) {
                db.exec("ALTER TABLE jobs ADD COLUMN retry_backoff_s REAL");
                db.exec("ALTER TABLE jobs ADD COLUMN scheduled_for INTEGER");
                db.exec("ALTER TABLE jobs ADD COLUMN after TEXT");
                db.exec("ALTER TABLE jobs ADD COLUMN then_spec TEXT");
                db.exec("ALTER TABLE runs ADD COLUMN scheduled_for INTEGER");
                db.exec("ALTER TABLE runs ADD COLUMN then_job TEXT");
                db.exec("ALTER TABLE runs ADD COLUMN then_error TEXT");
            }
            if (version <= 5) {
                db.exec("ALTER TABLE jobs ADD COLUMN queue TEXT");
            }
            db.exec("ALTER TABLE jobs ADD COLUMN schedule TEXT");
            db.exec("ALTER TABLE jobs ADD COLUMN batch_then TEXT");
            db.exec("ALTER TABLE jobs ADD COLUMN batch_size INTEGER");
        }
        if (version <= 3) {
            db.exec(remote_tasks_table);
        }
        if (version <= 5) {
            db.exec(queue_tables);
        }
        db.exec(schedules_table);
        db.exec("PRAGMA user_version = " + std::to_string(format_version));
        db.exec("COMMIT");
    }
    if (db.query_text("PRAGMA journal_mode = WAL") != "wal") {
        throw std::runtime_error("it cannot be put in WAL mode");
    }
    db.exec(sync == Sync::full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    // After a large transaction the WAL is truncated back to this size.
    db.exec("PRAGMA journal_size_limit = 16777216");
}

}  // namespace

/// The connection, checked and set up before any statement is prepared on it. Not
/// in the anonymous namespace: Journal::Db, which has linkage, derives from it.
struct CheckedDatabase {
    Database db;
    CheckedDatabase(const std::string& path, Sync sync) : db(path, true) { open_checks(db, sync); }
};

/// The connection and its prepared statements.
struct Journal::Db : CheckedDatabase {
    Statement begin{db.handle(), "BEGIN"};
    Statement commit{db.handle(), "COMMIT"};
    Statement insert_job{
        db.handle(),
        "INSERT INTO jobs VALUES "
        "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)"};
    Statement start_job{db.handle(),
                        "INSERT OR REPLACE INTO runs (seq, state, attempts, worker_pid, "
                        "worker_thread, started_at, worker_id, worker_name) "
                        "VALUES (?1, 'running', ?2, ?3, ?4, ?5, ?6, ?7)"};
    Statement start_and_finish_job{
        db.handle(),
        "INSERT OR REPLACE INTO runs VALUES (?1, ?2, ?7, ?8, ?9, ?10, ?3, ?4, ?5, ?6, ?11, ?12, "
        "NULL, ?13, ?14)"};
    Statement requeue_job{db.handle(), "UPDATE jobs SET retries_left = ?2 WHERE seq = ?1"};
    Statement return_run{db.handle(),
                         "UPDATE runs SET state = 'queued', attempts = ?2, worker_pid = NULL, "
                         "worker_thread = NULL, started_at = NULL, worker_id = NULL, "
                         "worker_name = NULL WHERE seq = ?1"};
    Statement requeue_run{db.handle(),
                          "UPDATE runs SET state = iif(?2 IS NULL, 'queued', 'scheduled'), "
                          "scheduled_for = ?2, worker_pid = NULL, worker_thread = NULL, "
                          "started_at = NULL, worker_id = NULL, worker_name = NULL WHERE seq = ?1"};
    Statement release_job{db.handle(),
                          "INSERT INTO runs (seq, state, attempts) SELECT seq, "
                          "iif(scheduled_for IS NULL, 'queued', 'scheduled'), 0 FROM jobs "
                          "WHERE seq = ?1"};
    // A job that ended has a row: it started, or a finish_job inserted one.
    Statement retry_run{
        db.handle(),
        "UPDATE runs SET state = 'queued', scheduled_for = NULL, worker_pid = NULL, "
        "worker_thread = NULL, started_at = NULL, worker_id = NULL, "
        "worker_name = NULL, finished_at = NULL, result = NULL, error_code = NULL, "
        "error_message = NULL, then_job = NULL, then_error = NULL WHERE seq = ?1"};
    // A job that ends without having started (cancelled while queued) has no row yet.
    Statement finish_job{
        db.handle(),
        "INSERT INTO runs (seq, state, attempts, finished_at, result, error_code, "
        "error_message, then_job, then_error) VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6, "
        "?13, ?14) ON CONFLICT (seq) DO UPDATE SET state = excluded.state, "
        "finished_at = excluded.finished_at, result = excluded.result, "
        "error_code = excluded.error_code, error_message = excluded.error_message, "
        "then_job = excluded.then_job, then_error = excluded.then_error"};
    Statement remove_job{db.handle(), "DELETE FROM jobs WHERE seq = ?1"};
    Statement remove_run{db.handle(), "DELETE FROM runs WHERE seq = ?1"};
    Statement put_kv{db.handle(), "INSERT OR REPLACE INTO kv VALUES (?1, ?2)"};
    Statement remove_kv{db.handle(), "DELETE FROM kv WHERE key = ?1"};
    Statement add_delivery{db.handle(), "INSERT OR REPLACE INTO webhooks VALUES (?1, ?2, ?3)"};
    Statement end_delivery{db.handle(), "DELETE FROM webhooks WHERE id = ?1"};
    Statement put_remote_task{db.handle(), "INSERT OR REPLACE INTO remote_tasks VALUES (?1, ?2)"};
    Statement set_queue{
        db.handle(),
        "INSERT INTO queues (name, max_concurrency, rate_limit) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET "
        "max_concurrency = coalesce(excluded.max_concurrency, max_concurrency), "
        "rate_limit = coalesce(excluded.rate_limit, rate_limit)"};
    Statement pause_queue{db.handle(),
                          "INSERT INTO queues (name, paused) VALUES (?1, ?2) "
                          "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused"};
    Statement pause_pool{db.handle(), "INSERT OR IGNORE INTO paused_pools VALUES (?1)"};
    Statement resume_pool{db.handle(), "DELETE FROM paused_pools WHERE name = ?1"};
    // The last firing a row has stays: a job's insert sets it, perhaps in this very
    // commit, after the schedule it came from was read.
    Statement keep_schedule{db.handle(),
                            "INSERT INTO schedules VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                            "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, "
                            "from_config = excluded.from_config, next_at = excluded.next_at"};
    Statement advance_schedule{db.handle(), "UPDATE schedules SET next_at = ?2 WHERE name = ?1"};
    Statement schedule_fired{db.handle(),
                             "UPDATE schedules SET last_at = ?2, last_job = ?3 WHERE name = ?1"};
    Statement remove_schedule{db.handle(), "DELETE FROM schedules WHERE name = ?1"};

    Db(const std::string& path, Sync sync) : CheckedDatabase(path, sync) {}

    void apply(const write::JobAccepted& w) {
        const StoredJob& s = w.job;
        const proto::Job& j = s.job;
        std::optional<std::string> callback;
        if (s.callback) {
            callback = sched::callback_text(*s.callback);
        }
        insert_job.bind(1, static_cast<std::int64_t>(s.seq))
            .bind(2, j.id)
            .bind(3, s.key)
            .bind(4, j.task)
            .bind(5, j.args.text())
            .bind(6, to_string(j.pool))
            .bind(7, std::int64_t{j.priority})
            .bind(8, j.batch)
            .bind(9, s.timeout_s)
            .bind(10, std::int64_t{s.retries_left})
            .bind(11, callback)
            .bind(12, millis(j.submitted_at))
            .bind(13,
                  j.submitted_by ? std::optional<std::string_view>(*j.submitted_by) : std::nullopt)
            .bind(14, s.retry_backoff_s);
        if (j.scheduled_for) {
            insert_job.bind(15, millis(*j.scheduled_for));
        }
        std::string after;  // bound as it is: it outlives the statement's run
        if (!j.after.empty()) {
            after = json(j.after).dump();
            insert_job.bind(16, after);
        }
        if (s.then) {
            insert_job.bind(17, s.then->text());
        }
        if (j.queue) {
            insert_job.bind(18, *j.queue);
        }
        if (j.schedule) {
            insert_job.bind(19, *j.schedule);
        }
        if (s.batch_then) {
            insert_job.bind(20, s.batch_then->text());
            insert_job.bind(21, std::int64_t{s.batch_size});
        }
        insert_job.run();
        if (j.schedule) {
            schedule_fired.bind(1, *j.schedule).bind(2, millis(j.submitted_at)).bind(3, j.id);
            schedule_fired.run();
        }
    }
    void apply(const write::JobStarted& w) {
        bind_start(start_job.bind(1, static_cast<std::int64_t>(w.seq)), w, 2).run();
    }
    void apply(const write::JobRequeued& w) {
        requeue_job.bind(1, static_cast<std::int64_t>(w.seq)).bind(2, std::int64_t{w.retries_left});
        requeue_job.run();
        requeue_run.bind(1, static_cast<std::int64_t>(w.seq));
        if (w.scheduled_for) {
            requeue_run.bind(2, millis(*w.scheduled_for));
        }
        requeue_run.run();
    }
    void apply(const write::JobReleased& w) {
        release_job.bind(1, static_cast<std::int64_t>(w.seq));
        release_job.run();
    }
    void apply(const write::JobRetried& w) {
        retry_run.bind(1, static_cast<std::int64_t>(w.seq));
        retry_run.run();
    }
    void apply(const write::JobReturned& w) {
        return_run.bind(1, static_cast<std::int64_t>(w.seq)).bind(2, std::int64_t{w.attempts});
        return_run.run();
    }
    void apply(const write::JobFinished& w) {
        std::string then_error;
        bind_finish(finish_job, w, then_error).run();
    }
    /// An attempt that both started and ended since the last commit: one row.
    void apply(const write::JobStarted& s, const write::JobFinished& w) {
        std::string then_error;
        bind_start(bind_finish(start_and_finish_job, w, then_error), s, 7).run();
    }
    /// Binds attempts, worker pid, worker thread, start time, and a remote worker's
    /// id and name from `first` on.
    static Statement& bind_start(Statement& st, const write::JobStarted& w, int first) {
        st.bind(first, std::int64_t{w.attempts})
            .bind(first + 1, w.worker.pid)
            .bind(first + 3, millis(w.started_at));
        if (w.worker.thread) {
            st.bind(first + 2, std::int64_t{*w.worker.thread});
        }
        if (!w.worker.id.empty()) {
            st.bind(first + 4, w.worker.id).bind(first + 5, w.worker.name);
        }
        return st;
    }
    /// Binds the end, and where `then` was asked for, its outcome (?13, ?14).
    /// `then_error` holds the JSON text bound: it outlives the statement's run.
    static Statement& bind_finish(Statement& st, const write::JobFinished& w,
                                  std::string& then_error) {
        st.bind(1, static_cast<std::int64_t>(w.seq))
            .bind(2, to_string(w.state))
            .bind(3, millis(w.finished_at));
        if (w.result) {
            st.bind(4, w.result->text());
        }
        if (w.error) {
            st.bind(5, to_string(w.error->code)).bind(6, w.error->message);
        }
        if (w.then_job) {
            st.bind(13, *w.then_job);
        }
        if (w.then_error) {
            then_error =
                json{{"code", to_string(w.then_error->code)}, {"message", w.then_error->message}}
                    .dump();
            st.bind(14, then_error);
        }
        return st;
    }
    void apply(const write::JobRemoved& w) {
        remove_job.bind(1, static_cast<std::int64_t>(w.seq));
        remove_job.run();
        remove_run.bind(1, static_cast<std::int64_t>(w.seq));
        remove_run.run();
    }
    void apply(const write::KvChanged& w) {
        if (w.value) {
            put_kv.bind(1, w.key).bind(2, *w.value);
            put_kv.run();
        } else {
            remove_kv.bind(1, w.key);
            remove_kv.run();
        }
    }
    void apply(const write::DeliveryAdded& w) {
        add_delivery.bind(1, w.delivery.id).bind(2, w.delivery.url).bind(3, w.delivery.body);
        add_delivery.run();
    }
    void apply(const write::DeliveryEnded& w) {
        end_delivery.bind(1, w.id);
        end_delivery.run();
    }
    void apply(const write::RemoteTaskKnown& w) {
        put_remote_task.bind(1, w.name).bind(2, w.description);
        put_remote_task.run();
    }
    void apply(const write::QueueSet& w) {
        // Bound as they are: they outlive the statement's run.
        std::string max;
        std::string rate;
        set_queue.bind(1, w.set.queue);
        if (const auto& n = w.set.max_concurrency) {
            max = *n ? std::to_string(**n) : "none";
            set_queue.bind(2, max);
        }
        if (const auto& r = w.set.rate_limit) {
            rate = *r ? proto::to_string(**r) : "none";
            set_queue.bind(3, rate);
        }
        set_queue.run();
    }
    void apply(const write::QueuePaused& w) {
        pause_queue.bind(1, w.queue).bind(2, std::int64_t{w.paused ? 1 : 0});
        pause_queue.run();
    }
    void apply(const write::PoolPaused& w) {
        auto& st = w.paused ? pause_pool : resume_pool;
        st.bind(1, to_string(w.pool));
        st.run();
    }
    void apply(const write::ScheduleKept& w) {
        const auto& s = w.schedule;
        auto spec = proto::schedule_fields(s.spec).dump();  // outlives the statement's run
        keep_schedule.bind(1, s.spec.name)
            .bind(2, spec)
            .bind(3, std::int64_t{s.from_config ? 1 : 0})
            .bind(6, s.last_job);
        if (s.next_at) {
            keep_schedule.bind(4, millis(*s.next_at));
        }
        if (s.last_at) {
            keep_schedule.bind(5, millis(*s.last_at));
        }
        keep_schedule.run();
    }
    void apply(const write::ScheduleAdvanced& w) {
        advance_schedule.bind(1, w.name);
        if (w.next_at) {
            advance_schedule.bind(2, millis(*w.next_at));
        }
        advance_schedule.run();
    }
    void apply(const write::ScheduleRemoved& w) {
        remove_schedule.bind(1, w.name);
        remove_schedule.run();
    }
};

Journal::Journal(asio::io_context& io, const std::string& path, Sync sync) : io_(io), path_(path) {
    try {
        db_ = std::make_unique<Db>(path, sync);
    } catch (const std::exception& e) {
        throw std::runtime_error("store.path " + path + ": " + e.what());
    }
}

Journal::~Journal() {
    stop();
}

namespace {

/// The columns of select_jobs, in its order.
enum Column : int {
    seq_column,
    id_column,
    key_column,
    task_column,
    args_column,
    pool_column,
    priority_column,
    batch_column,
    timeout_column,
    retries_left_column,
    callback_column,
    submitted_at_column,
    submitted_by_column,
    state_column,
    attempts_column,
    worker_pid_column,
    worker_thread_column,
    started_at_column,
    finished_at_column,
    result_column,
    error_code_column,
    error_message_column,
    worker_id_column,
    worker_name_column,
    retry_backoff_column,
    scheduled_for_column,
    after_column,
    then_spec_column,
    then_job_column,
    then_error_column,
    queue_column,
    schedule_column,
    batch_then_column,
    batch_size_column,
};

/// A JSON column written by this daemon, read back as it is; `error` if it is not JSON.
proto::RawJson json_column(const Statement& row, Column column, const char* error) {
    auto value = proto::RawJson::from_text(row.text(column));
    if (!value) {
        throw std::runtime_error(error);
    }
    return std::move(*value);
}

/// What the submit said: the row of `jobs`.
void read_submitted(const Statement& row, StoredJob& s) {
    proto::Job& j = s.job;
    s.seq = static_cast<std::uint64_t>(row.integer(seq_column));
    j.id = row.text(id_column);
    if (auto key = row.optional_text(key_column)) {
        s.key = std::string(*key);
    }
    j.task = row.text(task_column);
    j.args = json_column(row, args_column, "its args are not JSON");
    auto pool = proto::pool_from_string(row.text(pool_column));
    if (!pool) {
        throw std::runtime_error("unknown pool");
    }
    j.pool = *pool;
    j.priority = static_cast<int>(row.integer(priority_column));
    if (auto batch = row.optional_text(batch_column)) {
        j.batch = std::string(*batch);
    }
    if (!row.is_null(timeout_column)) {
        s.timeout_s = row.real(timeout_column);
    }
    s.retries_left = static_cast<int>(row.integer(retries_left_column));
    if (auto callback = row.optional_text(callback_column)) {
        s.callback = sched::callback_from_text(*callback);
    }
    j.submitted_at = timestamp(row.integer(submitted_at_column));
    if (auto by = row.optional_text(submitted_by_column)) {
        j.submitted_by = std::string(*by);
    }
    if (!row.is_null(retry_backoff_column)) {
        s.retry_backoff_s = row.real(retry_backoff_column);
    }
    if (auto after = row.optional_text(after_column)) {
        j.after = json::parse(*after).get<std::vector<std::string>>();
    }
    if (!row.is_null(then_spec_column)) {
        s.then = json_column(row, then_spec_column, "its then is not JSON");
    }
    if (auto queue = row.optional_text(queue_column)) {
        j.queue = std::string(*queue);
    }
    if (auto schedule = row.optional_text(schedule_column)) {
        j.schedule = std::string(*schedule);
    }
    if (!row.is_null(batch_then_column)) {
        s.batch_then = json_column(row, batch_then_column, "its map's then is not JSON");
        s.batch_size = static_cast<std::uint32_t>(row.integer(batch_size_column));
    }
}

/// How far it got: its row of `runs`, if it has one (a queued job has none).
void read_run(const Statement& row, proto::Job& j) {
    auto state = proto::state_from_string(row.text(state_column));
    if (!state) {
        throw std::runtime_error("unknown state");
    }
    j.state = *state;
    j.attempts = static_cast<int>(row.integer(attempts_column));
    if (auto pid = row.optional_integer(worker_pid_column)) {
        proto::WorkerInfo worker;
        worker.pid = *pid;
        if (auto thread = row.optional_integer(worker_thread_column)) {
            worker.thread = static_cast<int>(*thread);
        }
        if (auto id = row.optional_text(worker_id_column)) {
            worker.id = *id;
            worker.name = row.text(worker_name_column);
        }
        j.worker = std::move(worker);
    }
    if (auto started = row.optional_integer(started_at_column)) {
        j.started_at = timestamp(*started);
    }
    if (auto due = row.optional_integer(scheduled_for_column)) {
        j.scheduled_for = timestamp(*due);
    }
    if (auto then_job = row.optional_text(then_job_column)) {
        j.then_job = std::string(*then_job);
    }
    if (auto then_error = row.optional_text(then_error_column)) {
        auto e = json::parse(*then_error);
        j.then_error = proto::Error{proto::error_code_from_string(e.at("code").get<std::string>())
                                        .value_or(proto::ErrorCode::internal),
                                    e.at("message").get<std::string>()};
    }
    if (auto finished = row.optional_integer(finished_at_column)) {
        j.finished_at = timestamp(*finished);
    } else if (proto::is_final(j.state)) {
        throw std::runtime_error("finished without a finishing time");
    }
    if (!row.is_null(result_column)) {
        j.result = json_column(row, result_column, "its result is not JSON");
    }
    if (auto code = row.optional_text(error_code_column)) {
        auto c = proto::job_error_code_from_string(*code);
        if (!c) {
            throw std::runtime_error("unknown error code");
        }
        j.error = proto::JobError{*c, std::string(row.text(error_message_column))};
    }
}

/// One row of select_jobs as a StoredJob; throws on a value that cannot be read back.
StoredJob read_job(const Statement& row) {
    StoredJob s;
    read_submitted(row, s);
    read_run(row, s.job);
    return s;
}

/// Under load most jobs start and end between two commits; each such pair is
/// written as one row of `runs`. Returns, per write, the start folded
/// into that JobFinished, or, for a JobStarted so folded, itself (to be skipped).
std::vector<const write::JobStarted*> starts_folded(const std::vector<Write>& writes) {
    std::vector<const write::JobStarted*> folded(writes.size(), nullptr);
    std::unordered_map<std::uint64_t, std::size_t> open;  // seq -> its JobStarted's index
    for (std::size_t i = 0; i < writes.size(); ++i) {
        if (const auto* s = std::get_if<write::JobStarted>(&writes[i])) {
            open[s->seq] = i;
        } else if (const auto* r = std::get_if<write::JobRequeued>(&writes[i])) {
            open.erase(r->seq);
        } else if (const auto* back = std::get_if<write::JobReturned>(&writes[i])) {
            open.erase(back->seq);
        } else if (const auto* f = std::get_if<write::JobFinished>(&writes[i])) {
            if (auto it = open.find(f->seq); it != open.end()) {
                const auto* start = &std::get<write::JobStarted>(writes[it->second]);
                folded[it->second] = start;
                folded[i] = start;
                open.erase(it);
            }
        }
    }
    return folded;
}

}  // namespace

Restored Journal::restore() {
    Restored restored;
    auto skipped = [this](std::string_view what, std::string_view name, const std::exception& e) {
        spdlog::warn("journal {}: skipped {} {}: {}", path_, what, name, e.what());
    };
    try {
        Statement jobs(db_->db.handle(), select_jobs);
        while (jobs.step()) {
            try {
                restored.jobs.push_back(read_job(jobs));
            } catch (const std::exception& e) {
                skipped("job", jobs.text(1), e);
            }
        }
        Statement kv(db_->db.handle(), "SELECT key, value FROM kv");
        while (kv.step()) {
            try {
                restored.kv.emplace_back(kv.text(0), json::parse(kv.text(1)));
            } catch (const std::exception& e) {
                skipped("kv key", kv.text(0), e);
            }
        }
        Statement remote(db_->db.handle(), "SELECT name, description FROM remote_tasks");
        while (remote.step()) {
            restored.remote_tasks.emplace_back(remote.text(0), remote.text(1));
        }
        Statement queues(db_->db.handle(),
                         "SELECT name, max_concurrency, rate_limit, paused FROM queues");
        while (queues.step()) {
            StoredQueue q;
            q.limits.queue = queues.text(0);
            q.paused = queues.integer(3) != 0;
            if (auto max = queues.optional_text(1)) {
                q.limits.max_concurrency.emplace();
                if (*max != "none") {
                    q.limits.max_concurrency->emplace(std::stoll(std::string(*max)));
                }
            }
            if (auto rate = queues.optional_text(2)) {
                q.limits.rate_limit = proto::parse_rate_limit(*rate);  // "none": none
            }
            restored.queues.push_back(std::move(q));
        }
        Statement pools(db_->db.handle(), "SELECT name FROM paused_pools");
        while (pools.step()) {
            if (auto pool = proto::pool_from_string(pools.text(0))) {
                restored.paused_pools.push_back(*pool);
            }
        }
        Statement schedules(
            db_->db.handle(),
            "SELECT name, spec, from_config, next_at, last_at, last_job FROM schedules");
        while (schedules.step()) {
            auto name = schedules.text(0);
            auto spec = proto::decode_schedule(name, schedules.text(1));
            if (!spec) {
                spdlog::warn("journal {}: skipped schedule {}: {}", path_, name,
                             spec.error().message);
                continue;
            }
            proto::ScheduleInfo s;
            s.spec = std::move(*spec);
            s.from_config = schedules.integer(2) != 0;
            if (auto next = schedules.optional_integer(3)) {
                s.next_at = timestamp(*next);
            }
            if (auto last = schedules.optional_integer(4)) {
                s.last_at = timestamp(*last);
            }
            if (auto job = schedules.optional_text(5)) {
                s.last_job = std::string(*job);
            }
            restored.schedules.push_back(std::move(s));
        }
        Statement hooks(db_->db.handle(), "SELECT id, url, body FROM webhooks");
        while (hooks.step()) {
            restored.deliveries.push_back(StoredDelivery{std::string(hooks.text(0)),
                                                         std::string(hooks.text(1)),
                                                         std::string(hooks.text(2))});
        }
    } catch (const SqliteError& e) {
        throw std::runtime_error("store.path " + path_ + ": " + e.what());
    }
    return restored;
}

void Journal::start() {
    thread_ = std::thread([this] {
        leave_signals_to_the_io_thread();
        run();
    });
}

void Journal::append(Write write) {
    outbox_.push_back(std::move(write));
    if (!flush_posted_) {
        flush_posted_ = true;
        asio::post(io_, [this] { flush(); });
    }
}

void Journal::append_from_any_thread(Write write) {
    std::lock_guard lock(mutex_);
    inbox_.push_back(std::move(write));
    ++appended_;
    wake_.notify_one();
}

void Journal::flush() {
    flush_posted_ = false;
    if (outbox_.empty()) {
        return;
    }
    {
        std::lock_guard lock(mutex_);
        appended_ += outbox_.size();
        if (inbox_.empty()) {
            inbox_.swap(outbox_);
        } else {
            std::move(outbox_.begin(), outbox_.end(), std::back_inserter(inbox_));
        }
        flushed_ = appended_;
        wake_.notify_one();
    }
    outbox_.clear();
    for (auto& done : outbox_waiting_) {
        waiting_.emplace_back(flushed_, std::move(done));
    }
    outbox_waiting_.clear();
}

void Journal::after_commit(Committed done) {
    if (!outbox_.empty()) {
        outbox_waiting_.push_back(std::move(done));
    } else if (flushed_ > completed_) {
        waiting_.emplace_back(flushed_, std::move(done));
    } else {
        asio::post(io_, [done = std::move(done), ok = writable_.load()] { done(ok); });
    }
}

JournalHealth Journal::health() const {
    JournalHealth h;
    h.writable = writable_;
    h.commits = commits_;
    h.writes = writes_;
    if (!h.writable) {
        std::lock_guard lock(mutex_);
        h.error = error_;
    }
    return h;
}

proto::Error Journal::unavailable(std::string_view consequence) const {
    std::lock_guard lock(mutex_);
    return proto::Error{proto::ErrorCode::unavailable, "the journal cannot be written (" + error_ +
                                                           "); " + std::string(consequence)};
}

void Journal::stop() {
    flush();
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_one();
    }
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Journal::run() {
    std::vector<Write> kept;  // from a failed commit: tried again, first
    std::deque<std::uint64_t> removals;
    std::uint64_t reported = 0;
    for (;;) {
        std::vector<Write> fresh;
        std::uint64_t end = 0;
        bool stopping = false;
        {
            std::unique_lock lock(mutex_);
            auto ready = [this] { return !inbox_.empty() || stopping_; };
            if (!kept.empty()) {
                wake_.wait_for(lock, retry_interval, ready);
            } else if (removals.empty()) {
                wake_.wait(lock, ready);
            }
            fresh.swap(inbox_);
            end = appended_;
            stopping = stopping_;
        }
        if (stopping && fresh.empty() && kept.empty() && removals.empty()) {
            return;
        }
        std::vector<Write> batch = std::move(kept);
        kept.clear();
        batch.reserve(batch.size() + fresh.size() + max_removals_per_commit);
        for (auto& w : fresh) {
            if (auto* removed = std::get_if<write::JobRemoved>(&w)) {
                removals.push_back(removed->seq);
            } else {
                batch.push_back(std::move(w));
            }
        }
        for (std::size_t i = 0; i < max_removals_per_commit && !removals.empty(); ++i) {
            batch.emplace_back(write::JobRemoved{removals.front()});
            removals.pop_front();
        }
        bool ok = commit(batch);
        if (!ok) {
            for (auto& w : batch) {
                if (!std::holds_alternative<write::JobAccepted>(w)) {
                    kept.push_back(std::move(w));
                }
            }
        }
        if (end > reported) {
            reported = end;
            // The writes are freed on the io thread, which allocated them: here, a free
            // of another thread's memory beyond malloc's small per-thread cache takes
            // the lock of that thread's arena.
            asio::post(io_, [this, end, ok, written = std::move(batch)] { completed(end, ok); });
        }
        if (stopping && !ok) {
            spdlog::error("journal {}: {} changes could not be written before stopping", path_,
                          kept.size() + removals.size());
            return;
        }
    }
}

bool Journal::commit(std::vector<Write>& writes) {
    if (writes.empty()) {
        return true;
    }
    sqlite3* handle = db_->db.handle();
    try {
        db_->begin.run();
        auto started = starts_folded(writes);
        for (std::size_t i = 0; i < writes.size(); ++i) {
            const Write& w = writes[i];
            if (const auto* finished = std::get_if<write::JobFinished>(&w);
                finished != nullptr && started[i] != nullptr) {
                db_->apply(*started[i], *finished);
            } else if (started[i] == nullptr) {
                std::visit([this](const auto& change) { db_->apply(change); }, w);
            }
        }
        db_->commit.run();
    } catch (const SqliteError& e) {
        if (sqlite3_get_autocommit(handle) == 0) {
            sqlite3_exec(handle, "ROLLBACK", nullptr, nullptr, nullptr);
        }
        bool was_writable = writable_.exchange(false);
        {
            std::lock_guard lock(mutex_);
            error_ = e.what();
        }
        if (was_writable) {
            spdlog::error("journal {}: cannot write: {}; submits get `unavailable` until it can",
                          path_, e.what());
        }
        return false;
    }
    ++commits_;
    writes_ += writes.size();
    if (!writable_.exchange(true)) {
        spdlog::info("journal {}: writable again", path_);
    }
    return true;
}

void Journal::completed(std::uint64_t end, bool ok) {
    completed_ = end;
    while (!waiting_.empty() && waiting_.front().first <= end) {
        auto done = std::move(waiting_.front().second);
        waiting_.pop_front();
        done(ok);
    }
}

}  // namespace taskpool::daemon::store
