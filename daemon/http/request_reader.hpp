#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <http_parser.h>

namespace taskpool::daemon::http {

/// One HTTP request as the routes need it.
struct Request {
    std::string method;
    std::string target;  // path and query, as sent
    std::optional<std::string> authorization;
    /// An event stream's reconnection: the id of the last event the client had.
    std::optional<std::string> last_event_id;
    bool expect_continue = false;
    std::uint64_t content_length = 0;
    std::string body;
    /// False when the client asked to close after this request (or spoke HTTP/1.0
    /// without keep-alive).
    bool keep_alive = true;
};

/// Reads HTTP/1.1 requests from a byte stream (PROTOCOL.md section 8), one at a
/// time; http_parser does the parsing. Everything is bounded before it is buffered:
/// the request head by `max_head_bytes` and `max_headers` (431), the body by
/// `max_body_bytes`, judged from Content-Length before a byte of the body is read
/// (413). Ambiguous framing (Content-Length with Transfer-Encoding, two lengths) is
/// refused (400), and so is a chunked body (411): a request has one length. After an
/// error the reader stays failed, since the connection must close. Pure: no I/O.
/// Not thread-safe, not movable (the parser points back at it).
class RequestReader {
public:
    struct Limits {
        std::size_t max_body_bytes;
        std::size_t max_head_bytes = 16 * 1024;
        std::size_t max_headers = 64;
    };

    enum class Status {
        incomplete,  // feed more bytes
        head,        // request() has its method, target and headers; the body is next
        request,     // request() is complete
        error,       // answer error() and close
    };

    struct Error {
        int status;  // 400, 411, 413, 431 or 505
        std::string message;
    };

    explicit RequestReader(Limits limits);
    RequestReader(const RequestReader&) = delete;
    RequestReader& operator=(const RequestReader&) = delete;

    void feed(std::string_view bytes);
    /// Parses what has been fed, up to the next head or complete request.
    Status next();

    /// The request being read; valid from `head` until the next call after `request`.
    const Request& request() const { return request_; }
    Request& request() { return request_; }
    const Error& error() const { return *error_; }
    /// True while part of a request has arrived (a request has begun).
    bool has_partial() const { return in_message_ || start_ < buf_.size(); }
    /// Bytes fed but not parsed yet (pipelined requests waiting their turn).
    std::size_t unparsed_bytes() const { return buf_.size() - start_; }

private:
    static int on_message_begin(http_parser* p);
    static int on_url(http_parser* p, const char* at, std::size_t n);
    static int on_header_field(http_parser* p, const char* at, std::size_t n);
    static int on_header_value(http_parser* p, const char* at, std::size_t n);
    static int on_headers_complete(http_parser* p);
    static int on_body(http_parser* p, const char* at, std::size_t n);
    static int on_message_complete(http_parser* p);

    int fail(int status, std::string message);
    int count_head(std::size_t n);
    void end_header();
    int check_head();

    Limits limits_;
    http_parser parser_{};
    http_parser_settings settings_{};
    std::string buf_;
    std::size_t start_ = 0;  // first byte the parser has not taken
    Request request_;
    bool in_message_ = false;
    bool request_done_ = false;
    std::optional<Status> paused_at_;
    std::optional<Error> error_;

    // The header being read (http_parser may hand it over in pieces).
    std::string field_;
    std::string value_;
    bool in_value_ = false;
    std::size_t head_bytes_ = 0;
    std::size_t headers_ = 0;
    std::optional<std::string> content_length_;
    bool transfer_encoding_ = false;
};

}  // namespace taskpool::daemon::http
