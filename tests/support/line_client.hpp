#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace taskpool::test {

/// An HTTP response as read off the wire; header names in lower case.
struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
};

/// A raw connection for protocol-level tests: send any bytes, read NDJSON lines or
/// HTTP responses. Blocking, with timeouts; throws on setup failure only.
class LineClient {
public:
    explicit LineClient(std::uint16_t port);
    ~LineClient();
    LineClient(const LineClient&) = delete;
    LineClient& operator=(const LineClient&) = delete;

    void send_raw(const std::string& bytes);
    void send(const nlohmann::json& request) { send_raw(request.dump() + "\n"); }
    /// The next line, or none if the timeout passed or the connection closed.
    std::optional<std::string> read_line(
        std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// The next line parsed; throws if there is none.
    nlohmann::json read_json(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Reads lines until one without "event" and returns it.
    nlohmann::json read_reply(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// send() then read_reply().
    nlohmann::json request(const nlohmann::json& request,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
    /// Submits `submit` (an op `submit` with `notify`) and reads until its job has
    /// finished: the reply to the submit first, then the job's events in the order
    /// they came, job.finished last.
    std::vector<nlohmann::json> submit_and_follow(
        nlohmann::json submit, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    /// True once the peer has closed (reads EOF within the timeout, discarding lines).
    bool closed_by_peer(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    void shutdown_write();
    int fd() const { return fd_; }

    /// The next HTTP response (head, then a body of its Content-Length), or none
    /// if it did not all come in time.
    std::optional<HttpResponse> read_http_response(
        std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
    /// Waits for more bytes until `deadline`; false on timeout or EOF.
    bool receive_until(std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    std::string buffer_;
    bool eof_ = false;
};

/// One HTTP request on a connection of its own, and its response; throws if none
/// came in time.
HttpResponse http_call(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::string& body = "");

}  // namespace taskpool::test
