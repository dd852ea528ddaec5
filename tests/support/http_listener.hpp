#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace taskpool::test {

/// A real HTTP/1.1 listener on 127.0.0.1 (a free port) that records every request
/// it gets, for webhook tests. Each connection is served by a thread of its own and
/// gets one request; the responder picks the status (0: never answer, hold the
/// connection until the listener goes away) and any extra headers.
class HttpListener {
public:
    struct Request {
        std::string method;
        std::string path;
        std::map<std::string, std::string> headers;  // names in lower case
        std::string body;
        std::chrono::steady_clock::time_point at;
    };
    struct Response {
        int status = 200;
        std::string headers;  // extra header lines, each ending in CRLF
    };
    /// `n` counts the requests before this one.
    using Responder = std::function<Response(const Request& request, std::size_t n)>;

    explicit HttpListener(Responder responder = nullptr);
    ~HttpListener();
    HttpListener(const HttpListener&) = delete;
    HttpListener& operator=(const HttpListener&) = delete;

    std::string url(const std::string& path = "/hook") const;
    std::vector<Request> requests() const;
    /// Waits until at least `n` requests have come; false if the timeout passed.
    bool wait_for(std::size_t n, std::chrono::milliseconds timeout) const;

private:
    void accept_loop();
    void serve(int fd);

    Responder responder_;
    int listen_fd_ = -1;
    int stop_pipe_[2] = {-1, -1};
    std::uint16_t port_ = 0;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<Request> requests_;
    std::vector<int> open_fds_;  // closed on destruction, which ends held connections
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

}  // namespace taskpool::test
