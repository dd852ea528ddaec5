#include "http_protocol.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "daemon/auth/scopes.hpp"
#include "daemon/config/config.hpp"
#include "daemon/events/event_log.hpp"
#include "daemon/http/response.hpp"
#include "daemon/http/routes.hpp"
#include "daemon/ops/probes.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/ui/dashboard_files.hpp"
#include "session.hpp"

namespace taskpool::daemon::net {
namespace {

/// The token of `Authorization: Bearer <token>`; the scheme's case does not matter
/// (RFC 9110 11.1).
std::optional<std::string_view> bearer_token(const std::optional<std::string>& authorization) {
    constexpr std::string_view scheme = "bearer ";
    if (!authorization || authorization->size() < scheme.size() ||
        !std::equal(scheme.begin(), scheme.end(), authorization->begin(), [](char s, char a) {
            return s == std::tolower(static_cast<unsigned char>(a));
        })) {
        return std::nullopt;
    }
    return std::string_view(*authorization).substr(scheme.size());
}

}  // namespace

HttpProtocol::HttpProtocol(Session& session)
    : session_(session), reader_({static_cast<std::size_t>(session.limits().max_message_bytes)}) {}

std::size_t HttpProtocol::received(std::string_view bytes) {
    reader_.feed(bytes);
    completed_ = 0;
    pump();
    return completed_;
}

void HttpProtocol::pump() {
    if (pumping_) {
        return;  // a reply came while a request was being handed over
    }
    pumping_ = true;
    // Requests wait while the output is over its bound, as pipelined NDJSON does.
    while (!in_flight_ && !done_ && !(held_back_ = !session_.output_has_room())) {
        auto status = reader_.next();
        if (status == http::RequestReader::Status::incomplete) {
            break;
        }
        if (status == http::RequestReader::Status::error) {
            const auto& e = reader_.error();
            head_ = false;
            auto code = e.status == 413 || e.status == 431 ? proto::ErrorCode::message_too_large
                                                           : proto::ErrorCode::bad_request;
            refuse(e.status, {code, e.message});
            break;
        }
        if (status == http::RequestReader::Status::head) {
            if (!accept_head()) {
                break;
            }
            continue;
        }
        ++completed_;
        handle(reader_.request());
    }
    pumping_ = false;
}

bool HttpProtocol::accept_head() {
    const auto& request = reader_.request();
    head_ = request.method == "HEAD";
    const auto& auth = session_.dispatcher().services().config.auth;
    if (http::needs_token(request.target) && auth.required()) {
        auto grant = auth.verify(bearer_token(request.authorization));
        if (!grant) {
            refuse(401, {proto::ErrorCode::unauthorized, "wrong or missing Authorization: Bearer"},
                   "WWW-Authenticate: Bearer\r\n");
            return false;
        }
        // Each request shows a token, and is answered with what that one may do; one
        // did, so this is no stranger (a /healthz alone would not tell: it needs none).
        session_.grant = std::move(grant);
    }
    if (request.expect_continue && request.content_length > 0) {
        session_.queue_output(std::string(http::continue_response));
    }
    return true;
}

void HttpProtocol::handle(http::Request& request) {
    keep_alive_ = request.keep_alive;
    auto routed = http::route(request);
    const auto& services = session_.dispatcher().services();
    if (auto* call = std::get_if<http::OpCall>(&routed)) {
        in_flight_ = true;
        auto decoded = http::decode(*call);
        session_.dispatcher().dispatch(session_.shared_from_this(), std::move(decoded),
                                       request.target.size() + request.content_length);
    } else if (auto* file = std::get_if<http::UiFile>(&routed)) {
        auto found = ui::dashboard_file(file->name);
        if (!found) {
            respond(http::Response(
                404, http::error_body({proto::ErrorCode::not_found,
                                       "no such file of the dashboard: /ui/" + file->name})));
            return;
        }
        http::Response response(200, std::string(found->content), found->type);
        response.extra_headers = ui::dashboard_headers;
        respond(std::move(response));
    } else if (auto* redirect = std::get_if<http::Redirect>(&routed)) {
        http::Response response(302, "", "text/plain; charset=utf-8");
        response.extra_headers = "Location: " + redirect->location + "\r\n";
        respond(std::move(response));
    } else if (std::holds_alternative<http::HealthCheck>(routed)) {
        auto health = ops::health(services);
        respond(http::Response(health.ok ? 200 : 503, proto::json_text(health.body) + "\n"));
    } else if (std::holds_alternative<http::MetricsScrape>(routed) ||
               std::holds_alternative<http::EventStream>(routed)) {
        const auto& grant = session_.grant;
        if (grant && !auth::allows(grant->scopes, auth::Scope::read)) {
            auto error = auth::forbidden(*grant, request.target, auth::Scope::read);
            respond(http::Response(http::status_for(error.code), http::error_body(error)));
            return;
        }
        if (auto* stream = std::get_if<http::EventStream>(&routed)) {
            open_stream(std::move(stream->filter), request.last_event_id);
            return;
        }
        // In cluster mode the queues' figures come from Redis: answered later.
        in_flight_ = true;
        ops::scrape_metrics(
            services, [session = session_.weak_from_this(), this](std::string text) {
                if (!session.expired()) {
                    answer(http::Response(200, std::move(text),
                                          "text/plain; version=0.0.4; charset=utf-8"));
                }
            });
    } else {
        auto& refusal = std::get<http::Refusal>(routed);
        http::Response response(refusal.status, http::error_body(refusal.error));
        if (!refusal.allow.empty()) {
            response.extra_headers = "Allow: " + refusal.allow + "\r\n";
        }
        respond(std::move(response));
    }
}

void HttpProtocol::open_stream(proto::EventFilter filter,
                               const std::optional<std::string>& last_event_id) {
    if (head_) {
        respond(http::Response(200, "", std::string(event_stream_type)));
        return;
    }
    // The stream is the last response: its body ends when the connection does, and
    // nothing more is read (in_flight_ bounds what is buffered of what comes).
    in_flight_ = true;
    done_ = true;
    streaming_ = true;
    // In cluster mode the stream begins once every node's events reach this one.
    auto& services = session_.dispatcher().services();
    ops::when_heard(services, [&services, session = session_.shared_from_this(),
                               filter = std::move(filter), last_event_id]() mutable {
        session->queue_output(std::string("HTTP/1.1 200 OK\r\nContent-Type: ") +
                              std::string(event_stream_type) +
                              "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
        services.event_log.open(std::move(session), std::move(filter), last_event_id);
    });
}

void HttpProtocol::reply(std::string line) {
    if (streaming_) {
        session_.queue_output(std::move(line));  // an event of the stream
        return;
    }
    if (!in_flight_) {
        return;  // no request is waiting for it
    }
    answer(http::response_from_reply(std::move(line)));
}

void HttpProtocol::answer(http::Response response) {
    in_flight_ = false;
    respond(std::move(response));
    pump();
    session_.resume_reading_if_drained();
}

void HttpProtocol::respond(http::Response response) {
    response.keep_alive = response.keep_alive && keep_alive_;
    response.head = head_;
    session_.queue_output(http::render(response));
    if (!response.keep_alive) {
        done_ = true;
        session_.close_after_flush();
    }
}

void HttpProtocol::refuse(int status, const proto::Error& error, std::string extra_headers) {
    spdlog::debug("connection {}: HTTP {}: {}", session_.id(), status, error.message);
    http::Response response(status, http::error_body(error));
    response.keep_alive = false;
    response.extra_headers = std::move(extra_headers);
    respond(std::move(response));
}

}  // namespace taskpool::daemon::net
