#include "http_listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace taskpool::test {
namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

/// Parses "METHOD PATH HTTP/1.1" and the header lines of `head`.
HttpListener::Request parse_head(const std::string& head) {
    HttpListener::Request r;
    auto line_end = head.find("\r\n");
    auto first = head.substr(0, line_end);
    auto sp1 = first.find(' ');
    auto sp2 = first.find(' ', sp1 + 1);
    r.method = first.substr(0, sp1);
    r.path = first.substr(sp1 + 1, sp2 - sp1 - 1);
    for (auto at = line_end + 2; at < head.size();) {
        auto end = std::min(head.find("\r\n", at), head.size());
        auto line = head.substr(at, end - at);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
            auto value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            r.headers[lower(line.substr(0, colon))] = value;
        }
        at = end + 2;
    }
    return r;
}

}  // namespace

HttpListener::HttpListener(Responder responder) : responder_(std::move(responder)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0 || ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
        throw std::runtime_error("HttpListener: cannot listen");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

HttpListener::~HttpListener() {
    (void)!::write(stop_pipe_[1], "x", 1);
    acceptor_.join();
    {
        std::lock_guard lock(mutex_);
        for (int fd : open_fds_) {
            ::shutdown(fd, SHUT_RDWR);  // wakes a held connection's thread
        }
    }
    for (auto& t : threads_) {
        t.join();
    }
    ::close(listen_fd_);
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
}

std::string HttpListener::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<HttpListener::Request> HttpListener::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

bool HttpListener::wait_for(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void HttpListener::accept_loop() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 || fds[1].revents != 0) {
            return;
        }
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        std::lock_guard lock(mutex_);
        open_fds_.push_back(fd);
        threads_.emplace_back([this, fd] { serve(fd); });
    }
}

void HttpListener::serve(int fd) {
    std::string data;
    char buf[4096];
    std::size_t head_end = std::string::npos;
    std::size_t body_size = 0;
    Request request;
    for (;;) {
        if (head_end == std::string::npos) {
            head_end = data.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                request = parse_head(data.substr(0, head_end));
                auto it = request.headers.find("content-length");
                body_size = it == request.headers.end() ? 0 : std::stoul(it->second);
            }
        }
        if (head_end != std::string::npos && data.size() >= head_end + 4 + body_size) {
            break;
        }
        auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
            return;  // the listener closes fds it tracks
        }
        data.append(buf, static_cast<std::size_t>(n));
    }
    request.body = data.substr(head_end + 4, body_size);
    request.at = std::chrono::steady_clock::now();
    std::size_t n = 0;
    {
        std::lock_guard lock(mutex_);
        n = requests_.size();
        requests_.push_back(request);
    }
    changed_.notify_all();
    Response response = responder_ ? responder_(request, n) : Response{};
    if (response.status == 0) {
        while (::read(fd, buf, sizeof buf) > 0) {  // hold until the listener goes away
        }
        return;
    }
    std::string reply = "HTTP/1.1 " + std::to_string(response.status) + " Status\r\n" +
                        response.headers + "Content-Length: 0\r\nConnection: close\r\n\r\n";
    (void)!::write(fd, reply.data(), reply.size());
    ::shutdown(fd, SHUT_WR);
}

}  // namespace taskpool::test
