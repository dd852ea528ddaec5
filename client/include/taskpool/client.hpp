#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
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

/// An event pushed by the daemon (`job.started`, `job.finished`, ...).
struct Event {
    std::string name;
    nlohmann::json body;  // the whole event line
};

/// An accepted map: its batch id and its jobs, in the order of the items.
struct BatchReply {
    std::string batch;
    std::vector<proto::Job> jobs;
};

/// A blocking client of one taskpoold connection.
///
/// connect() says hello (with the token, if any) and checks the protocol version.
/// Each call sends one request with a fresh id and waits for the reply with that id;
/// events and replies to other ids that arrive meanwhile are kept for later.
/// Not thread-safe: use one Client per thread.
class Client {
public:
    /// `address` is HOST:PORT. `timeout_s` bounds connecting and the hello.
    static ClientResult<Client> connect(const std::string& address,
                                        std::optional<std::string> token = std::nullopt,
                                        double timeout_s = 10);

    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    ~Client();

    /// The hello reply: server, version, protocol, pools, tasks.
    const nlohmann::json& server_info() const { return server_info_; }

    /// Sends one request and returns the whole reply (`ok` true). A reply with `ok`
    /// false becomes a `request` error. `timeout_s` bounds the wait for the reply.
    ClientResult<nlohmann::json> call(proto::RequestBody body,
                                      std::optional<double> timeout_s = std::nullopt);

    ClientResult<proto::Job> submit(std::string task, nlohmann::json args = nullptr,
                                    proto::SubmitOptions options = {},
                                    std::optional<std::string> key = std::nullopt);
    /// Submits one job per item, all or none (`map`). One line carries them all: keep
    /// it under the daemon's limits.max_message_bytes.
    ClientResult<BatchReply> map(std::string task, std::vector<nlohmann::json> items,
                                 proto::SubmitOptions options = {});
    /// `wait_s`: wait until the job has finished, at most this long (infinity: no limit).
    ClientResult<proto::Job> get(const std::string& job, std::optional<double> wait_s = {});
    ClientResult<proto::Job> cancel(const std::string& job);
    ClientResult<std::vector<proto::Job>> list(std::optional<proto::JobState> state = {},
                                               int limit = proto::ListRequest::default_limit);
    ClientResult<void> ping();

    /// The next event, waiting up to `timeout_s` (none: forever). A timeout error
    /// when none came.
    ClientResult<Event> next_event(std::optional<double> timeout_s = std::nullopt);

private:
    struct Connection;
    explicit Client(std::unique_ptr<Connection> connection);
    ClientResult<nlohmann::json> read_reply(const nlohmann::json& id,
                                            std::optional<double> timeout_s);

    std::unique_ptr<Connection> conn_;
    nlohmann::json server_info_;
    std::int64_t next_id_ = 1;
    std::map<std::int64_t, nlohmann::json> early_replies_;
    std::deque<Event> events_;
};

/// Reads a job from a reply's `job` field.
ClientResult<proto::Job> job_from_reply(const nlohmann::json& reply);

}  // namespace taskpool
