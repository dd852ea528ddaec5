#include "line_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace taskpool::test {

LineClient::LineClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd_);
        throw std::runtime_error("connect failed");
    }
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

LineClient::~LineClient() {
    ::close(fd_);
}

void LineClient::send_raw(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        auto n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw std::runtime_error("send failed");
        }
        sent += static_cast<std::size_t>(n);
    }
}

std::optional<std::string> LineClient::read_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto lf = buffer_.find('\n');
        if (lf != std::string::npos) {
            std::string line = buffer_.substr(0, lf);
            buffer_.erase(0, lf + 1);
            return line;
        }
        if (eof_) {
            return std::nullopt;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return std::nullopt;
        }
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
            continue;
        }
        char buf[65536];
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            eof_ = true;
        } else {
            buffer_.append(buf, static_cast<std::size_t>(n));
        }
    }
}

nlohmann::json LineClient::read_json(std::chrono::milliseconds timeout) {
    auto line = read_line(timeout);
    if (!line) {
        throw std::runtime_error(eof_ ? "connection closed" : "no line in time");
    }
    return nlohmann::json::parse(*line);
}

nlohmann::json LineClient::read_reply(std::chrono::milliseconds timeout) {
    for (;;) {
        auto j = read_json(timeout);
        if (!j.contains("event")) {
            return j;
        }
    }
}

nlohmann::json LineClient::request(const nlohmann::json& req, std::chrono::milliseconds timeout) {
    send(req);
    return read_reply(timeout);
}

bool LineClient::closed_by_peer(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_ && std::chrono::steady_clock::now() < deadline) {
        read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
    }
    return eof_;
}

void LineClient::shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
}

}  // namespace taskpool::test
