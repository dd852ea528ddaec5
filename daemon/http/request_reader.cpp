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
