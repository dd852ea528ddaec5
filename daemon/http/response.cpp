#include "response.hpp"

#include <http_parser.h>
#include <nlohmann/json.hpp>

#include "proto/json_writer.hpp"

namespace taskpool::daemon::http {

int status_for(proto::ErrorCode code) {
    using proto::ErrorCode;
    switch (code) {
        case ErrorCode::bad_request:
        case ErrorCode::unknown_op:
            return 400;
        case ErrorCode::unauthorized:
            return 401;
        case ErrorCode::forbidden:
            return 403;
        case ErrorCode::no_such_task:
        case ErrorCode::no_such_job:
        case ErrorCode::no_such_schedule:
        case ErrorCode::not_found:
            return 404;
        case ErrorCode::not_cancellable:
        case ErrorCode::not_retryable:
        case ErrorCode::dependency_failed:
        case ErrorCode::not_assigned:
            return 409;
        case ErrorCode::message_too_large:
            return 413;
        case ErrorCode::queue_full:
            return 429;
        case ErrorCode::shutting_down:
        case ErrorCode::too_many_connections:
        case ErrorCode::unavailable:
            return 503;
        case ErrorCode::internal:
            return 500;
    }
    return 500;
}

std::string render(const Response& response) {
    std::string out = "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += http_status_str(static_cast<http_status>(response.status));
    out += "\r\nContent-Type: ";
    out += response.content_type;
    // No browser is to take a JSON body that holds markup for a page.
    out += "\r\nX-Content-Type-Options: nosniff\r\nContent-Length: ";
    out += std::to_string(response.body.size());
    out += "\r\n";
    if (!response.keep_alive) {
        out += "Connection: close\r\n";
    }
    if (response.status == 429 || response.status == 503) {
        // Full queue, stopping daemon: both are worth trying again shortly.
        out += "Retry-After: 1\r\n";
    }
    out += response.extra_headers;
    out += "\r\n";
    if (!response.head) {
        out += response.body;
    }
    return out;
}

std::string error_body(const proto::Error& error) {
    return proto::json_text(
               {{"error", {{"code", proto::to_string(error.code)}, {"message", error.message}}}}) +
           "\n";
}

Response response_from_reply(std::string line) {
    constexpr std::string_view ok_field = R"("ok":true)";
    if (line.compare(1, ok_field.size(), ok_field) == 0) {
        line.erase(1, ok_field.size() + (line[1 + ok_field.size()] == ',' ? 1 : 0));
        return Response(200, std::move(line));
    }
    auto reply = nlohmann::json::parse(line, nullptr, false);
    auto code = proto::ErrorCode::internal;
    std::string message = "internal error";
    if (reply.is_object() && reply.contains("error")) {
        const auto& e = reply["error"];
        code = proto::error_code_from_string(e.value("code", "")).value_or(code);
        message = e.value("message", message);
    }
    return Response(status_for(code), error_body({code, std::move(message)}));
}

}  // namespace taskpool::daemon::http
