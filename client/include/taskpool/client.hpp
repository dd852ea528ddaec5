#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/job.hpp"
#include "proto/request.hpp"
#include "proto/result.hpp"

namespace taskpool {

/// Why a client call failed.
struct ClientError {
    enum class Kind {
        connection,  // cannot connect, or the connection broke
        protocol,    // the daemon said something that is not the protocol
        timeout,     // no reply in time
        request,     // the daemon refused the request; `code` says why
    };
    Kind kind = Kind::connection;
    std::optional<proto::ErrorCode> code;
    std::string message;
};

template <class T>
using ClientResult = proto::Result<T, ClientError>;

/// How to connect: the token, the time allowed, and TLS.
struct ConnectOptions {
    std::optional<std::string> token;
    /// Bounds connecting, the TLS handshake and the hello.
    double timeout_s = 10;
    /// TLS, as a tls:// address asks for too. The daemon's certificate must name
    /// the address's host (name or IP).
    bool tls = false;
    /// PEM file of the CAs to trust; empty: the system's.
    std::string ca_file;
    /// A client certificate (PEM, then its chain), for a daemon with tls.client_ca.
    std::string cert_file;
    /// Its key (PEM); empty: cert_file holds it too.
    std::string key_file;
};

/// A TLS session, as the client sees it.
struct TlsInfo {
    std::string version;         // "TLSv1.3"
    std::string cipher;          // "TLS_AES_128_GCM_SHA256"
    std::string peer_subject;    // the daemon's certificate, RFC 2253: "CN=taskpool.example"
    std::string peer_issuer;     // who signed it, likewise
    std::string peer_not_after;  // when it expires, RFC 3339 in UTC
};

/// An event pushed by the daemon (`job.started`, `job.finished`, ...).
struct Event {
    std::string name;
    nlohmann::json body;  // the whole event line
};

/// An accepted map: its batch ids (one a request it took) and its jobs, in the
/// order of the items.
struct BatchReply {
    std::vector<std::string> batches;
    std::vector<proto::Job> jobs;
};

/// Called with a finished job: the callback or error_callback of apply_async.
using JobCallback = std::function<void(const proto::Job& job)>;

/// A blocking client of one taskpoold connection.
///
/// connect() says hello (with the token, if any) and checks the protocol version.
/// Each call sends one request with a fresh id and waits for the reply with that id;
/// events and replies to other ids that arrive meanwhile are kept for later.
/// Not thread-safe: use one Client per thread.
class Client {
public:
    /// `address` is HOST:PORT, or tls://HOST:PORT for TLS (tcp:// for plain TCP).
    /// `timeout_s` bounds connecting and the hello.
    static ClientResult<Client> connect(const std::string& address,
                                        std::optional<std::string> token = std::nullopt,
                                        double timeout_s = 10);
    static ClientResult<Client> connect(const std::string& address, ConnectOptions options);

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    /// The hello reply: server, version, protocol, pools, tasks.
    const nlohmann::json& server_info() const { return server_info_; }
    /// The TLS session's parameters and the daemon's certificate; none over TCP.
    std::optional<TlsInfo> tls_info() const;

    /// Sends one request and returns the whole reply (`ok` true). A reply with `ok`
    /// false becomes a `request` error. `timeout_s` bounds the wait for the reply.
    ClientResult<nlohmann::json> call(proto::RequestBody body,
                                      std::optional<double> timeout_s = std::nullopt);

    ClientResult<proto::Job> submit(std::string task, nlohmann::json args = nullptr,
                                    proto::SubmitOptions options = {},
                                    std::optional<std::string> key = std::nullopt);
    /// Submits one job per item (`map`), in requests of at most 1,000 items and
    /// 256 KiB of args, each accepted all or none, a few in flight at once; with
    /// `then`, which follows one batch, in one request. With
    /// `wait`, the jobs come back finished (or as they are when it runs out). A
    /// refused request fails the call, and its message says which items the
    /// daemon had accepted before.
    ClientResult<BatchReply> map(std::string task, std::vector<nlohmann::json> items,
                                 proto::SubmitOptions options = {});
    /// `wait_s`: wait until the job has finished, at most this long (infinity: no limit).
    ClientResult<proto::Job> get(const std::string& job, std::optional<double> wait_s = {});
    ClientResult<proto::Job> cancel(const std::string& job);
    /// Queues a failed or cancelled job again under its id.
    ClientResult<proto::Job> retry(const std::string& job);
    /// Sets what `set` names of a queue's limits (PROTOCOL.md 12); the queue as it is now.
    ClientResult<proto::QueueInfo> set_queue(proto::QueueSetRequest set);
    /// Every queue the daemon knows, by name.
    ClientResult<std::vector<proto::QueueInfo>> queues();
    /// Pauses a queue or a pool: it starts no job until resumed; running ones go on.
    ClientResult<void> pause(proto::PauseTarget target);
    ClientResult<void> resume(proto::PauseTarget target);
    /// Sets or replaces a recurring schedule (PROTOCOL.md 13); it as it is now.
    ClientResult<proto::ScheduleInfo> set_schedule(proto::ScheduleSpec schedule);
    ClientResult<void> delete_schedule(const std::string& name);
    /// Every schedule, by name.
    ClientResult<std::vector<proto::ScheduleInfo>> schedules();
    /// Jobs newest first: by state, id prefix and limit as `query` says.
    ClientResult<std::vector<proto::Job>> list(proto::ListRequest query = {});
    ClientResult<void> ping();

    /// The next event, waiting up to `timeout_s` (none: forever). A timeout error
    /// when none came.
    ClientResult<Event> next_event(std::optional<double> timeout_s = std::nullopt);

    // Callbacks in this process, as Pool.apply_async(callback=, error_callback=):
    // the daemon pushes job.finished (notify) and run_callbacks() calls `on_done`
    // for a job that succeeded, `on_error` (if any) for one that failed or was
    // cancelled, once each, on the calling thread. An exception from a callback
    // leaves run_callbacks() to its caller; the other callbacks stay pending.

    /// Submits a job with callbacks; returns it as accepted.
    ClientResult<proto::Job> submit_async(std::string task, nlohmann::json args,
                                          JobCallback on_done, JobCallback on_error = nullptr,
                                          proto::SubmitOptions options = {});
    /// map() with callbacks for each of its jobs.
    ClientResult<BatchReply> map_async(std::string task, std::vector<nlohmann::json> items,
                                       JobCallback on_done, JobCallback on_error = nullptr,
                                       proto::SubmitOptions options = {});
    /// Runs callbacks as their jobs finish until none is pending, waiting at most
    /// `timeout_s` (none: no limit); then a timeout error if some still are. Other
    /// events are kept for next_event().
    ClientResult<void> run_callbacks(std::optional<double> timeout_s = std::nullopt);
    std::size_t pending_callbacks() const { return callbacks_.size(); }

private:
    friend class Worker;  // reads and writes the connection itself
    struct Connection;
    explicit Client(std::unique_ptr<Connection> connection);
    ClientResult<nlohmann::json> read_reply(const nlohmann::json& id,
                                            std::optional<double> timeout_s);
    /// Sends a request without waiting for its reply; returns its id.
    ClientResult<std::int64_t> send(proto::RequestBody body);
    /// Appends `body` to `out` as a request line, to be sent with others in one
    /// write; returns its id.
    std::int64_t encode(proto::RequestBody body, std::string& out);
    /// Keeps a line that is not the reply being waited for: an event, or a reply to
    /// a later read.
    void keep(nlohmann::json line);
    void add_callbacks(const proto::Job& job, JobCallback on_done, JobCallback on_error);
    /// Runs the callbacks of `event` if it ends a job that has some; false otherwise.
    bool dispatch(const Event& event);
    bool dispatch(const proto::Job& job);

    std::unique_ptr<Connection> conn_;
    nlohmann::json server_info_;
    std::int64_t next_id_ = 1;
    std::map<std::int64_t, nlohmann::json> early_replies_;
    std::deque<Event> events_;
    std::unordered_map<std::string, std::pair<JobCallback, JobCallback>> callbacks_;
    std::deque<proto::Job> finished_;  // had already ended when its callbacks were set
};

/// Reads a job from a reply's `job` field.
ClientResult<proto::Job> job_from_reply(const nlohmann::json& reply);

}  // namespace taskpool
