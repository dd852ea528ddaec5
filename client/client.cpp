#include "taskpool/client.hpp"

#include <algorithm>
#include <cmath>

#include "connection.hpp"
#include "proto/version.hpp"

namespace taskpool {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

ClientError protocol_error(std::string message) {
    return {ClientError::Kind::protocol, std::nullopt, std::move(message)};
}

// A map goes in requests of at most this many items and bytes of args, well under
// the daemon's default limits.max_message_bytes (1 MiB), with this many in flight:
// their replies stay well under its default output bound (8 MiB).
constexpr std::size_t map_chunk_items = 1000;
constexpr std::size_t map_chunk_bytes = 256 * 1024;
constexpr std::size_t maps_in_flight = 4;

/// The items in map requests of a bounded size, or all in one where `whole`: a
/// `then` follows one batch, so its map cannot be split.
std::vector<std::vector<proto::RawJson>> split_items(const std::vector<json>& items, bool whole) {
    std::vector<std::vector<proto::RawJson>> chunks;
    std::size_t bytes = 0;
    for (const auto& value : items) {
        proto::RawJson item(value);
        auto size = item.text().size();
        if (chunks.empty() || (!whole && (chunks.back().size() == map_chunk_items ||
                                          bytes + size > map_chunk_bytes))) {
            chunks.emplace_back();
            bytes = 0;
        }
        bytes += size;
        chunks.back().push_back(std::move(item));
    }
    return chunks;
}

std::optional<Clock::time_point> deadline_after(std::optional<double> timeout_s) {
    if (!timeout_s || !std::isfinite(*timeout_s)) {
        return std::nullopt;
    }
    return Clock::now() +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*timeout_s));
}

}  // namespace

Client::Client(std::unique_ptr<Connection> connection) : conn_(std::move(connection)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

ClientResult<Client> Client::connect(const std::string& address, std::optional<std::string> token,
                                     double timeout_s) {
    ConnectOptions options;
    options.token = std::move(token);
    options.timeout_s = timeout_s;
    return connect(address, std::move(options));
}

ClientResult<Client> Client::connect(const std::string& address, ConnectOptions options) {
    auto conn = Connection::open(address, options, deadline_after(options.timeout_s));
    if (!conn) {
        return conn.error();
    }
    Client client(std::move(*conn));
    auto hello = client.call(proto::HelloRequest{std::move(options.token), "taskpool-cpp"},
                             options.timeout_s);
    if (!hello) {
        auto error = hello.error();
        if (error.kind == ClientError::Kind::connection && !client.tls_info()) {
            // What a TLS port does with plain TCP: it closes without a word.
            error.message += " (if it serves TLS, connect to tls://" + address + ")";
        }
        return error;
    }
    if (hello->value("protocol", 0) != proto::protocol_version) {
        return protocol_error("the daemon speaks protocol " +
                              hello->value("protocol", json()).dump() + ", this client " +
                              std::to_string(proto::protocol_version));
    }
    client.server_info_ = std::move(*hello);
    return client;
}

std::optional<TlsInfo> Client::tls_info() const {
    return conn_->tls_info();
}

ClientResult<std::int64_t> Client::send(proto::RequestBody body) {
    std::string line;
    auto id = encode(std::move(body), line);
    if (auto sent = conn_->write(line); !sent) {
        return sent.error();
    }
    return id;
}

std::int64_t Client::encode(proto::RequestBody body, std::string& out) {
    std::int64_t id = next_id_++;
    out += proto::encode_request({json(id), std::move(body)});
    return id;
}

ClientResult<json> Client::call(proto::RequestBody body, std::optional<double> timeout_s) {
    auto id = send(std::move(body));
    if (!id) {
        return id.error();
    }
    return read_reply(json(*id), timeout_s);
}

ClientResult<json> Client::read_reply(const json& id, std::optional<double> timeout_s) {
    auto deadline = deadline_after(timeout_s);
    json reply;
    if (auto it = early_replies_.find(id.get<std::int64_t>()); it != early_replies_.end()) {
        reply = std::move(it->second);
        early_replies_.erase(it);
    } else {
        for (;;) {
            auto line = conn_->read_line(deadline);
            if (!line) {
                return line.error();
            }
            auto got = line->find("id");
            bool ours = !line->contains("event") &&
                        ((got != line->end() && *got == id) ||
                         // A reply without an id: an error about the connection itself.
                         (got == line->end() && line->value("ok", true) == false));
            if (ours) {
                reply = std::move(*line);
                break;
            }
            keep(std::move(*line));
        }
    }
    if (reply.value("ok", false)) {
        return reply;
    }
    const auto& error = reply.value("error", json::object());
    return ClientError{ClientError::Kind::request,
                       proto::error_code_from_string(error.value("code", std::string())),
                       error.value("message", std::string("the daemon refused the request"))};
}

ClientResult<proto::Job> job_from_reply(const json& reply) {
    auto it = reply.find("job");
    if (it == reply.end()) {
        return protocol_error("the reply has no job");
    }
    auto job = proto::decode_job(*it);
    if (!job) {
        return protocol_error(job.error().message);
    }
    return std::move(*job);
}

ClientResult<proto::Job> Client::submit(std::string task, json args, proto::SubmitOptions options,
                                        std::optional<std::string> key) {
    auto reply = call(proto::SubmitRequest{std::move(task), proto::RawJson(args), std::move(key),
                                           std::move(options)});
    return reply ? job_from_reply(*reply) : ClientResult<proto::Job>(reply.error());
}

ClientResult<BatchReply> Client::map(std::string task, std::vector<json> items,
                                     proto::SubmitOptions options) {
    auto deadline = deadline_after(options.wait);
    BatchReply out;
    std::deque<std::pair<std::int64_t, std::size_t>> in_flight;  // request id, items in it
    std::optional<ClientError> failed;
    auto chunks = split_items(items, options.then.has_value());
    auto next = chunks.begin();
    while (!in_flight.empty() || (next != chunks.end() && !failed)) {
        while (next != chunks.end() && !failed && in_flight.size() < maps_in_flight) {
            auto chunk_options = options;
            if (deadline) {  // each request waits for what is left of the one wait
                chunk_options.wait =
                    std::max(0.0, std::chrono::duration<double>(*deadline - Clock::now()).count());
            }
            auto size = next->size();
            auto sent = send(proto::MapRequest{task, std::move(*next++), chunk_options});
            if (!sent) {
                return sent.error();
            }
            in_flight.emplace_back(*sent, size);
        }
        auto reply = read_reply(json(in_flight.front().first), std::nullopt);
        auto size = in_flight.front().second;
        in_flight.pop_front();
        if (!reply) {
            failed = failed.value_or(reply.error());
            continue;  // the requests already sent are still answered
        }
        auto batch = reply->value("batch", "");
        auto jobs = reply->find("jobs");
        if (batch.empty() || jobs == reply->end() || !jobs->is_array() || jobs->size() != size) {
            return protocol_error("the map reply has no batch or not its jobs");
        }
        out.batches.push_back(std::move(batch));
        for (const auto& j : *jobs) {
            auto job = proto::decode_job(j);
            if (!job) {
                return protocol_error(job.error().message);
            }
            out.jobs.push_back(std::move(*job));
        }
    }
    if (failed) {
        if (!out.jobs.empty()) {
            failed->message += "; the daemon accepted " + std::to_string(out.jobs.size()) +
                               " of the items, as batch(es)";
            for (const auto& batch : out.batches) {
                failed->message += " " + batch;
            }
        }
        return *failed;
    }
    return out;
}

ClientResult<proto::Job> Client::get(const std::string& job, std::optional<double> wait_s) {
    auto reply = call(proto::GetRequest{job, wait_s});
    return reply ? job_from_reply(*reply) : ClientResult<proto::Job>(reply.error());
}

ClientResult<proto::Job> Client::cancel(const std::string& job) {
    auto reply = call(proto::CancelRequest{job});
    return reply ? job_from_reply(*reply) : ClientResult<proto::Job>(reply.error());
}

ClientResult<proto::Job> Client::retry(const std::string& job) {
    auto reply = call(proto::RetryRequest{job});
    return reply ? job_from_reply(*reply) : ClientResult<proto::Job>(reply.error());
}

namespace {

template <class T>
using Decoder = proto::Result<T> (*)(const json&);

/// What `decode` reads of `j`; a protocol error where it cannot.
template <class T>
ClientResult<T> decoded(const json& j, Decoder<T> decode) {
    auto value = decode(j);
    if (!value) {
        return protocol_error(value.error().message);
    }
    return std::move(*value);
}

/// Each element of the reply's array `field`, read by `decode`.
template <class T>
ClientResult<std::vector<T>> decoded_list(const json& reply, const char* field, Decoder<T> decode) {
    std::vector<T> out;
    for (const auto& j : reply.value(field, json::array())) {
        auto value = decoded(j, decode);
        if (!value) {
            return value.error();
        }
        out.push_back(std::move(*value));
    }
    return out;
}

}  // namespace

ClientResult<proto::QueueInfo> Client::set_queue(proto::QueueSetRequest set) {
    auto reply = call(std::move(set));
    return reply ? decoded(reply->value("queue", json()), proto::decode_queue) : reply.error();
}

ClientResult<std::vector<proto::QueueInfo>> Client::queues() {
    auto reply = call(proto::QueueListRequest{});
    return reply ? decoded_list(*reply, "queues", proto::decode_queue) : reply.error();
}

ClientResult<proto::ScheduleInfo> Client::set_schedule(proto::ScheduleSpec schedule) {
    auto reply = call(proto::ScheduleSetRequest{std::move(schedule)});
    return reply ? decoded(reply->value("schedule", json()), proto::decode_schedule_info)
                 : reply.error();
}

ClientResult<void> Client::delete_schedule(const std::string& name) {
    auto reply = call(proto::ScheduleDelRequest{name});
    return reply ? ClientResult<void>() : reply.error();
}

ClientResult<std::vector<proto::ScheduleInfo>> Client::schedules() {
    auto reply = call(proto::ScheduleListRequest{});
    return reply ? decoded_list(*reply, "schedules", proto::decode_schedule_info) : reply.error();
}

ClientResult<void> Client::pause(proto::PauseTarget target) {
    auto reply = call(proto::PauseRequest{std::move(target)});
    return reply ? ClientResult<void>() : reply.error();
}

ClientResult<void> Client::resume(proto::PauseTarget target) {
    auto reply = call(proto::ResumeRequest{std::move(target)});
    return reply ? ClientResult<void>() : reply.error();
}

ClientResult<std::vector<proto::Job>> Client::list(proto::ListRequest query) {
    auto reply = call(std::move(query));
    if (!reply) {
        return reply.error();
    }
    std::vector<proto::Job> jobs;
    for (const auto& j : reply->value("jobs", json::array())) {
        auto job = proto::decode_job(j);
        if (!job) {
            return protocol_error(job.error().message);
        }
        jobs.push_back(std::move(*job));
    }
    return jobs;
}

ClientResult<void> Client::ping() {
    auto reply = call(proto::PingRequest{});
    if (!reply) {
        return reply.error();
    }
    return {};
}

void Client::keep(json line) {
    if (line.contains("event")) {
        events_.push_back({line.value("event", std::string()), std::move(line)});
    } else if (auto id = line.find("id"); id != line.end() && id->is_number_integer()) {
        // The key first: json's operator= takes its argument by value, so the line
        // is moved from before the left side is evaluated.
        auto key = id->get<std::int64_t>();
        early_replies_[key] = std::move(line);
    }
}

ClientResult<Event> Client::next_event(std::optional<double> timeout_s) {
    auto deadline = deadline_after(timeout_s);
    while (events_.empty()) {
        auto line = conn_->read_line(deadline);
        if (!line) {
            return line.error();
        }
        keep(std::move(*line));
    }
    Event e = std::move(events_.front());
    events_.pop_front();
    return e;
}

void Client::add_callbacks(const proto::Job& job, JobCallback on_done, JobCallback on_error) {
    callbacks_.emplace(job.id, std::make_pair(std::move(on_done), std::move(on_error)));
    if (proto::is_final(job.state)) {
        finished_.push_back(job);  // no event will come: its key named a finished job
    }
}

ClientResult<proto::Job> Client::submit_async(std::string task, json args, JobCallback on_done,
                                              JobCallback on_error, proto::SubmitOptions options) {
    options.notify = true;
    options.wait.reset();
    auto job = submit(std::move(task), std::move(args), std::move(options));
    if (job) {
        add_callbacks(*job, std::move(on_done), std::move(on_error));
    }
    return job;
}

ClientResult<BatchReply> Client::map_async(std::string task, std::vector<json> items,
                                           JobCallback on_done, JobCallback on_error,
                                           proto::SubmitOptions options) {
    options.notify = true;
    options.wait.reset();
    auto batch = map(std::move(task), std::move(items), std::move(options));
    if (batch) {
        for (const auto& job : batch->jobs) {
            add_callbacks(job, on_done, on_error);
        }
    }
    return batch;
}

bool Client::dispatch(const Event& event) {
    if (event.name != "job.finished") {
        return false;
    }
    auto job = proto::decode_job(event.body.value("job", json::object()));
    return job && dispatch(*job);
}

bool Client::dispatch(const proto::Job& job) {
    auto it = callbacks_.find(job.id);
    if (it == callbacks_.end()) {
        return false;
    }
    // Out of the table before the call: a callback may submit more.
    auto [on_done, on_error] = std::move(it->second);
    callbacks_.erase(it);
    const auto& callback = job.state == proto::JobState::succeeded ? on_done : on_error;
    if (callback) {
        callback(job);
    }
    return true;
}

ClientResult<void> Client::run_callbacks(std::optional<double> timeout_s) {
    auto deadline = deadline_after(timeout_s);
    while (!finished_.empty()) {
        proto::Job job = std::move(finished_.front());
        finished_.pop_front();
        dispatch(job);
    }
    // Events that arrived during other calls first; those that are not for a
    // callback stay, ahead of any a callback's own calls bring in.
    std::deque<Event> kept;
    for (auto& event : std::exchange(events_, {})) {
        if (!dispatch(event)) {
            kept.push_back(std::move(event));
        }
    }
    kept.insert(kept.end(), std::make_move_iterator(events_.begin()),
                std::make_move_iterator(events_.end()));
    events_ = std::move(kept);
    while (!callbacks_.empty()) {
        auto line = conn_->read_line(deadline);
        if (!line) {
            return line.error();
        }
        if (line->contains("event")) {
            Event event{line->value("event", std::string()), std::move(*line)};
            if (!dispatch(event)) {
                events_.push_back(std::move(event));
            }
        } else {
            keep(std::move(*line));
        }
    }
    return {};
}

}  // namespace taskpool
