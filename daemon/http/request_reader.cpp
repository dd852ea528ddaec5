#include "request_reader.hpp"

#include <algorithm>
#include <cctype>

namespace taskpool::daemon::http {
namespace {

RequestReader& reader_of(http_parser* p) {
    return *static_cast<RequestReader*>(p->data);
}

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

/// tchar of RFC 9110 5.6.2: what a method or a header name is made of.
bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

/// http_parser takes several spaces where RFC 9112 3 has one, and any version:
/// the line is judged here first, as it was sent. Without its CR LF.
std::optional<RequestReader::Error> check_request_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    auto first = line.find(' ');
    auto last = line.rfind(' ');
    if (first == std::string_view::npos || first == last) {
        return RequestReader::Error{400, "the request line must be METHOD TARGET HTTP/1.1"};
    }
    auto method = line.substr(0, first);
    auto target = line.substr(first + 1, last - first - 1);
    auto version = line.substr(last + 1);
    bool target_ok = !target.empty() && std::none_of(target.begin(), target.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
    });
    if (!is_token(method) || !target_ok) {
        return RequestReader::Error{
            400, "the request line must be METHOD TARGET HTTP/1.1, one space between each"};
    }
    bool versioned = version.size() == 8 && version.starts_with("HTTP/") &&
                     std::isdigit(static_cast<unsigned char>(version[5])) != 0 &&
                     version[6] == '.' && std::isdigit(static_cast<unsigned char>(version[7])) != 0;
    if (!versioned) {
        return RequestReader::Error{400, "the request line must end in HTTP/1.1"};
    }
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return RequestReader::Error{505, "only HTTP/1.0 and HTTP/1.1 are spoken here"};
    }
    return std::nullopt;
}

std::string parser_error_message(http_errno e) {
    switch (e) {
        case HPE_UNEXPECTED_CONTENT_LENGTH:
            return "a request may not have two Content-Length headers, or Content-Length with "
                   "Transfer-Encoding";
        case HPE_INVALID_CONTENT_LENGTH:
            return "Content-Length is not a number";
        case HPE_INVALID_TRANSFER_ENCODING:
            return "Transfer-Encoding is not supported; send the body with Content-Length";
        default:
            return std::string("malformed HTTP request: ") + http_errno_description(e);
    }
}

}  // namespace

RequestReader::RequestReader(Limits limits) : limits_(limits) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
    http_parser_settings_init(&settings_);
    settings_.on_message_begin = &RequestReader::on_message_begin;
    settings_.on_url = &RequestReader::on_url;
    settings_.on_header_field = &RequestReader::on_header_field;
    settings_.on_header_value = &RequestReader::on_header_value;
    settings_.on_headers_complete = &RequestReader::on_headers_complete;
    settings_.on_body = &RequestReader::on_body;
    settings_.on_message_complete = &RequestReader::on_message_complete;
}

void RequestReader::feed(std::string_view bytes) {
    buf_.erase(0, start_);
    start_ = 0;
    buf_.append(bytes);
}

RequestReader::Status RequestReader::next() {
    if (error_) {
        return Status::error;
    }
    if (request_done_) {
        request_done_ = false;
        request_ = Request{};
    }
    while (start_ < buf_.size()) {
        if (!in_message_) {
            // A request begins: not a byte of it to the parser before its whole line.
            auto begin = buf_.find_first_not_of("\r\n", start_);
            auto end = begin == std::string::npos ? begin : buf_.find('\n', begin);
            if (end == std::string::npos) {
                if (buf_.size() - start_ <= limits_.max_head_bytes) {
                    return Status::incomplete;
                }
                error_ = Error{431, "the request line is longer than " +
                                        std::to_string(limits_.max_head_bytes) + " bytes"};
                return Status::error;
            }
            if (auto refused =
                    check_request_line(std::string_view(buf_).substr(begin, end - begin))) {
                error_ = std::move(refused);
                return Status::error;
            }
        }
        auto n =
            http_parser_execute(&parser_, &settings_, buf_.data() + start_, buf_.size() - start_);
        start_ += n;
        auto e = HTTP_PARSER_ERRNO(&parser_);
        if (e == HPE_PAUSED) {
            http_parser_pause(&parser_, 0);
            auto status = *paused_at_;
            paused_at_.reset();
            request_done_ = status == Status::request;
            return status;
        }
        if (e != HPE_OK) {
            if (!error_) {
                error_ = Error{400, parser_error_message(e)};
            }
            return Status::error;
        }
        if (parser_.upgrade) {
            error_ = Error{400, "protocol upgrades are not supported"};
            return Status::error;
        }
    }
    // All taken: drop it, so that a long keep-alive connection does not grow.
    buf_.clear();
    start_ = 0;
    return Status::incomplete;
}

int RequestReader::fail(int status, std::string message) {
    error_ = Error{status, std::move(message)};
    return -1;
}

int RequestReader::count_head(std::size_t n) {
    head_bytes_ += n;
    if (head_bytes_ > limits_.max_head_bytes) {
        return fail(431, "the request line and headers are longer than " +
                             std::to_string(limits_.max_head_bytes) + " bytes");
    }
    return 0;
}

int RequestReader::on_message_begin(http_parser* p) {
    auto& r = reader_of(p);
    r.in_message_ = true;
    r.head_bytes_ = 0;
    r.headers_ = 0;
    r.field_.clear();
    r.value_.clear();
    r.in_value_ = false;
    r.content_length_.reset();
    r.transfer_encoding_ = false;
    return 0;
}

int RequestReader::on_url(http_parser* p, const char* at, std::size_t n) {
    auto& r = reader_of(p);
    r.request_.target.append(at, n);
    return r.count_head(n);
}

int RequestReader::on_header_field(http_parser* p, const char* at, std::size_t n) {
    auto& r = reader_of(p);
    if (r.in_value_) {
        r.end_header();
        if (r.error_) {
            return -1;
        }
    }
    r.field_.append(at, n);
    return r.count_head(n);
}

int RequestReader::on_header_value(http_parser* p, const char* at, std::size_t n) {
    auto& r = reader_of(p);
    r.in_value_ = true;
    r.value_.append(at, n);
    return r.count_head(n);
}

void RequestReader::end_header() {
    if (++headers_ > limits_.max_headers) {
        fail(431, "a request may have at most " + std::to_string(limits_.max_headers) + " headers");
        return;
    }
    if (!is_token(field_)) {
        // "Content-Length : 5" included: RFC 9112 5.1 has no space before the colon.
        fail(400, "a header name must be a token, with no space before its colon");
        return;
    }
    auto value = trimmed(value_);
    if (iequals(field_, "content-length")) {
        if (content_length_ && *content_length_ != value) {
            fail(400, "two different Content-Length headers");
            return;
        }
        content_length_ = std::string(value);
    } else if (iequals(field_, "transfer-encoding")) {
        transfer_encoding_ = true;
    } else if (iequals(field_, "authorization")) {
        request_.authorization = std::string(value);
    } else if (iequals(field_, "last-event-id")) {
        request_.last_event_id = std::string(value);
    } else if (iequals(field_, "expect")) {
        request_.expect_continue = iequals(value, "100-continue");
    }
    field_.clear();
    value_.clear();
    in_value_ = false;
}

int RequestReader::check_head() {
    if (parser_.http_major != 1) {
        return fail(505, "only HTTP/1.0 and HTTP/1.1 are spoken here");
    }
    if (transfer_encoding_ && content_length_) {
        return fail(400, "a request may not have both Content-Length and Transfer-Encoding");
    }
    if (transfer_encoding_) {
        return fail(411, "chunked request bodies are not supported; send Content-Length");
    }
    if (content_length_ && parser_.content_length > limits_.max_body_bytes) {
        return fail(413, "the body is longer than " + std::to_string(limits_.max_body_bytes) +
                             " bytes (limits.max_message_bytes)");
    }
    return 0;
}

int RequestReader::on_headers_complete(http_parser* p) {
    auto& r = reader_of(p);
    if (r.in_value_) {
        r.end_header();
        if (r.error_) {
            return -1;
        }
    }
    if (r.check_head() != 0) {
        return -1;
    }
    r.request_.method = http_method_str(static_cast<http_method>(p->method));
    r.request_.content_length = r.content_length_ ? p->content_length : 0;
    r.request_.keep_alive = http_should_keep_alive(p) != 0;
    r.request_.body.reserve(r.request_.content_length);
    r.paused_at_ = Status::head;
    http_parser_pause(p, 1);
    return 0;
}

int RequestReader::on_body(http_parser* p, const char* at, std::size_t n) {
    reader_of(p).request_.body.append(at, n);
    return 0;
}

int RequestReader::on_message_complete(http_parser* p) {
    auto& r = reader_of(p);
    r.in_message_ = false;
    r.request_.keep_alive = http_should_keep_alive(p) != 0;
    r.paused_at_ = Status::request;
    http_parser_pause(p, 1);
    return 0;
}

}  // namespace taskpool::daemon::http
