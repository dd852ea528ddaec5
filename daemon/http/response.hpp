#pragma once

#include <string>
#include <string_view>

#include "proto/error.hpp"

namespace taskpool::daemon::http {

/// The status an error code is answered with (PROTOCOL.md section 8).
int status_for(proto::ErrorCode code);

struct Response {
    static constexpr std::string_view json = "application/json";

    Response(int status_code, std::string text, std::string_view type = json)
        : status(status_code), content_type(type), body(std::move(text)) {}

    int status;
    std::string_view content_type;
    std::string body;
    bool keep_alive = true;
    bool head = false;          // the answer to HEAD: headers only, the GET's length
    std::string extra_headers;  // complete lines, CRLF included
};

/// The response as bytes: status line, headers (Content-Length, Connection: close
/// when it is the last, Retry-After with 429 and 503), body.
std::string render(const Response& response);

/// `{"error": {"code": ..., "message": ...}}`, LF included.
std::string error_body(const proto::Error& error);

/// An NDJSON reply line, built without an id, as a response: `{"ok":true, ...}`
/// becomes 200 with the other fields as the body; `{"ok":false,"error":{...}}`
/// becomes the status of its code with `{"error":{...}}`. The line's buffer
/// becomes the body: a large result is not copied.
Response response_from_reply(std::string line);

/// The interim response to `Expect: 100-continue`.
inline constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace taskpool::daemon::http
