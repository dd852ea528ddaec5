#include "line_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
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

bool LineClient::receive_until(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        if (eof_) {
            return false;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
            continue;
        }
        char buf[65536];
        auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        buffer_.append(buf, static_cast<std::size_t>(n));
        return true;
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
        if (!receive_until(deadline)) {
            return std::nullopt;
        }
    }
}

std::optional<HttpResponse> LineClient::read_http_response(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!receive_until(deadline)) {
            return std::nullopt;
        }
    }
    HttpResponse response;
    std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    auto line_end = head.find("\r\n");
    response.status = std::stoi(head.substr(9, 3));  // "HTTP/1.1 200 OK"
    while (line_end != std::string::npos) {
        auto start = line_end + 2;
        line_end = head.find("\r\n", start);
        auto line = head.substr(
            start, line_end == std::string::npos ? std::string::npos : line_end - start);
        auto colon = line.find(':');
        auto name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        response.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    auto length = response.headers.count("content-length") != 0
                      ? std::stoul(response.headers["content-length"])
                      : 0;
    while (buffer_.size() < length) {
        if (!receive_until(deadline)) {
            return std::nullopt;
        }
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
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

std::vector<nlohmann::json> LineClient::submit_and_follow(nlohmann::json submit,
                                                          std::chrono::milliseconds timeout) {
    submit["op"] = "submit";
    submit["notify"] = true;
    send(submit);
    std::optional<nlohmann::json> reply;
    std::vector<nlohmann::json> events;
    bool finished = false;
    while (!reply || (reply->value("ok", false) && !finished)) {
        auto j = read_json(timeout);
        if (!j.contains("event")) {
            reply = std::move(j);
        } else {
            finished = finished || j["event"] == "job.finished";
            events.push_back(std::move(j));
        }
    }
    events.insert(events.begin(), std::move(*reply));
    return events;
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

HttpResponse http_call(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::string& body) {
    LineClient c(port);
    c.send_raw(method + " " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
    auto response = c.read_http_response();
    if (!response) {
        throw std::runtime_error(method + " " + target + ": no response");
    }
    return *response;
}

}  // namespace taskpool::test
