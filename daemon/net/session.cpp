#include "session.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/ssl/error.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "daemon/base/no_throw.hpp"
#include "http_protocol.hpp"
#include "ndjson_protocol.hpp"
#include "protocol_sniffer.hpp"

namespace taskpool::daemon::net {
namespace {

using base::no_throw;
constexpr std::size_t read_chunk = 64 * 1024;
// The largest output buffer a connection keeps for reuse once it is written.
constexpr std::size_t kept_buffer_bytes = 256 * 1024;
// How long a closing connection gets to take its last replies.
constexpr auto flush_grace = std::chrono::seconds(5);
// How long a client still sending gets, once its last reply is written, to read it
// and close, before the connection is closed under it.
constexpr auto linger = std::chrono::seconds(2);

std::chrono::steady_clock::duration seconds(double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(s));
}

void log_exception(std::exception_ptr e) {
    if (e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            spdlog::error("session: {}", ex.what());
        }
    }
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, std::uint64_t id, const Config::Limits& limits,
                 ops::Dispatcher& dispatcher, conn::ConnectionRegistry& registry,
                 std::shared_ptr<asio::ssl::context> tls)
    : conn::Peer(id),
      socket_(std::move(socket)),
      tls_context_(std::move(tls)),
      limits_(limits),
      dispatcher_(dispatcher),
      registry_(registry),
      writer_wake_(socket_.get_executor()),
      reader_wake_(socket_.get_executor()),
      watchdog_timer_(socket_.get_executor()),
      last_activity_(Clock::now()),
      accepted_at_(last_activity_) {
    if (tls_context_) {
        tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls_context_);
    }
}

Session::~Session() = default;

void Session::start() {
    auto ex = socket_.get_executor();
    asio::co_spawn(ex, read_loop(shared_from_this()), log_exception);
    asio::co_spawn(ex, write_loop(shared_from_this()), log_exception);
    asio::co_spawn(ex, watchdog(shared_from_this()), log_exception);
}

void Session::write_line(std::string line, Line kind) {
    // A client that reads gets every line, each at most max_line_bytes. One that
    // does not is closed once events have piled up past twice the bound, or late
    // replies (to waits it sent while it could) past twice that. In-order replies
    // stopped the reader while they were awaited: past the bound come at most
    // those of unknown size in flight then, each of at most max_line_bytes.
    auto limit = kind == Line::event   ? max_line_bytes()
                 : kind == Line::reply ? 2 * max_line_bytes()
                                       : (max_unknown_replies + 1) * max_line_bytes();
    if (pending_output() > limit) {
        close("it does not read its replies (limits.max_output_buffer_bytes)");
        return;
    }
    if (protocol_) {
        protocol_->reply(std::move(line));
    }
}

void Session::queue_output(std::string bytes) {
    if (closed_) {
        return;
    }
    // Appended into the buffer this connection keeps, so that a burst of replies
    // does not grow a new one from the first reply's size each time.
    if (out_.empty() && out_.capacity() < bytes.size()) {
        out_ = std::move(bytes);
    } else {
        out_ += bytes;
    }
    if (writer_waiting_) {
        writer_waiting_ = false;
        writer_wake_.cancel();
    }
}

void Session::close_after_flush() {
    if (closing_ || closed_) {
        return;
    }
    closing_ = true;
    closing_deadline_ = Clock::now() + flush_grace;
    writer_wake_.cancel();
    reader_wake_.cancel();
    watchdog_timer_.cancel();
}

void Session::on_reply_sent() {
    if (read_done_ && pending_replies() == 0) {
        close_after_flush();
    }
}

void Session::close(const char* why) {
    if (closed_) {
        return;
    }
    closed_ = true;
    spdlog::debug("connection {} closed: {}", id(), why);
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    writer_wake_.cancel();
    reader_wake_.cancel();
    watchdog_timer_.cancel();
    registry_.remove(id());
    dispatcher_.connection_closed(*this);
}

asio::awaitable<void> Session::read_loop(std::shared_ptr<Session> /*keep_alive*/) {
    if (tls_ && !co_await handshake()) {
        co_return;
    }
    std::string buf(read_chunk, '\0');
    while (!closed_) {
        auto [ec, n] = tls_ ? co_await tls_->async_read_some(asio::buffer(buf), no_throw)
                            : co_await socket_.async_read_some(asio::buffer(buf), no_throw);
        if (closed_) {
            co_return;
        }
        if (ec == asio::ssl::error::stream_truncated) {
            // The client shut its side of TCP without TLS's close_notify: as EOF, it
            // is still owed its replies.
            ec = asio::error::eof;
        }
        if (ec) {
            // EOF (or a reset): send the replies still owed, then close. Watches do
            // not keep a half-closed connection: its bound jobs are cancelled.
            read_done_ = true;
            if (flushed_ || ec != asio::error::eof) {
                close(flushed_ ? "closed after its last reply" : ec.message().c_str());
            } else if (pending_replies() == 0) {
                close_after_flush();
            }
            co_return;
        }
        if (closing_) {
            continue;  // what still comes is not read: drained until the client closes
        }
        if (tls_) {
            n += take_received_records(std::span(buf).subspan(n));
        }
        last_activity_ = Clock::now();
        received(std::string_view(buf.data(), n));
        while (!closed_ && !closing_ && !wants_input()) {
            reader_paused_ = true;
            reader_wake_.expires_at(Clock::time_point::max());
            co_await reader_wake_.async_wait(no_throw);
        }
        reader_paused_ = false;
    }
}

void Session::received(std::string_view bytes) {
    std::size_t completed = 0;
    if (!protocol_) {
        first_bytes_.append(bytes);
        switch (sniff_protocol(first_bytes_)) {
            case Sniffed::undecided:
                break;
            case Sniffed::http:
                protocol_ = std::make_unique<HttpProtocol>(*this);
                break;
            case Sniffed::ndjson:
                protocol_ = std::make_unique<NdjsonProtocol>(*this);
                break;
        }
        if (protocol_) {
            completed = protocol_->received(std::exchange(first_bytes_, {}));
        }
    } else {
        completed = protocol_->received(bytes);
    }
    if (closed_ || closing_) {
        return;
    }
    bool mid_request = protocol_ ? protocol_->mid_request() : true;
    if (!mid_request) {
        request_started_.reset();
    } else if (!request_started_ || completed > 0) {
        request_started_ = Clock::now();
        watchdog_timer_.cancel();  // its deadline may now be earlier
    }
}

bool Session::wants_input() const {
    return output_has_room() && (!protocol_ || protocol_->wants_input());
}

asio::awaitable<void> Session::write_loop(std::shared_ptr<Session> /*keep_alive*/) {
    while (!closed_) {
        if (out_.empty()) {
            if (closing_) {
                co_await finish_closing();
                co_return;
            }
            writer_waiting_ = true;
            writer_wake_.expires_at(Clock::time_point::max());
            co_await writer_wake_.async_wait(no_throw);
            writer_waiting_ = false;
            continue;
        }
        std::swap(out_, writing_);
        auto [ec, n] = tls_ ? co_await asio::async_write(*tls_, asio::buffer(writing_), no_throw)
                            : co_await asio::async_write(socket_, asio::buffer(writing_), no_throw);
        if (writing_.capacity() > kept_buffer_bytes) {
            writing_ = std::string();  // an idle connection does not keep a burst's memory
        } else {
            writing_.clear();
        }
        if (ec) {
            close(ec.message().c_str());
            co_return;
        }
        last_activity_ = Clock::now();
        resume_reading_if_drained();
    }
}

asio::awaitable<void> Session::finish_closing() {
    // Closing a socket with unread input makes the kernel answer with a reset,
    // which can destroy the last reply before the client reads it. So when the
    // client may still be sending, stop writing and let the reader drain its input
    // until it closes (or `linger` passes).
    std::error_code ec;
    bool input_waiting =
        socket_.available(ec) > 0 || tls_input_waiting() || (protocol_ && protocol_->mid_request());
    if (handshaken_) {
        co_await send_close_notify();  // else a TLS client takes the end for an attack
        if (closed_) {
            co_return;
        }
    }
    if (read_done_ || !input_waiting) {
        close("closed after its last reply");
        co_return;
    }
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    flushed_ = true;
    closing_deadline_ = std::min(*closing_deadline_, Clock::now() + linger);
    watchdog_timer_.cancel();
}

asio::awaitable<bool> Session::handshake() {
    // A first byte that does not open a TLS handshake record gets no answer: one
    // this client could read would have to be in TLS.
    constexpr unsigned char handshake_record = 0x16;
    std::array<unsigned char, 1> first{};
    auto [peek_error, peeked] = co_await socket_.async_receive(
        asio::buffer(first), asio::socket_base::message_peek, no_throw);
    if (closed_) {
        co_return false;
    }
    if (peek_error || peeked == 0) {
        close("it closed before the TLS handshake");
        co_return false;
    }
    if (first[0] != handshake_record) {
        close("it did not begin with a TLS handshake");
        co_return false;
    }
    auto [error] = co_await tls_->async_handshake(asio::ssl::stream_base::server, no_throw);
    if (closed_) {
        co_return false;
    }
    if (error) {
        std::string why = "the TLS handshake failed: " + error.message();
        if (auto verified = SSL_get_verify_result(tls_->native_handle()); verified != X509_V_OK) {
            why +=
                std::string(" (its certificate: ") + X509_verify_cert_error_string(verified) + ")";
        }
        close(why.c_str());
        co_return false;
    }
    handshaken_ = true;
    watchdog_timer_.cancel();  // the handshake's deadline is over
    co_return true;
}

asio::awaitable<void> Session::send_close_notify() {
    // As if the client's close_notify had come: SSL_shutdown then only sends ours,
    // and does not read, which the reader is doing.
    SSL* ssl = tls_->native_handle();
    SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
    co_await tls_->async_shutdown(no_throw);
}

std::string Session::address() const {
    std::error_code ec;
    auto peer = socket_.remote_endpoint(ec);
    if (ec) {
        return {};
    }
    auto host = peer.address().to_string();
    return (peer.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(peer.port());
}

bool Session::tls_input_waiting() const {
    if (!tls_) {
        return false;
    }
    SSL* ssl = tls_->native_handle();
    return SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

std::size_t Session::take_received_records(std::span<char> out) {
    // A TLS read returns one record, and a client that pipelines sends a record a
    // request: without this, a batch would be handled, and answered, a request at a
    // time. SSL_read on the memory BIO Asio feeds never blocks; once it has no
    // whole record left it fails, and the next async read goes on from there.
    SSL* ssl = tls_->native_handle();
    std::size_t taken = 0;
    while (taken < out.size() && tls_input_waiting()) {
        int n = SSL_read(ssl, out.data() + taken, static_cast<int>(out.size() - taken));
        if (n <= 0) {
            ERR_clear_error();
            break;
        }
        taken += static_cast<std::size_t>(n);
    }
    return taken;
}

void Session::resume_reading_if_drained() {
    if (protocol_ && !closed_ && !closing_ && output_has_room()) {
        protocol_->resume();
    }
    if (reader_paused_ && wants_input()) {
        reader_wake_.cancel();
    }
}

bool Session::awaits_hello() const {
    return !authenticated() && dispatcher_.requires_token();
}

Session::Clock::time_point Session::hello_due() const {
    return accepted_at_ + seconds(limits_.auth_timeout_s);
}

Session::Clock::time_point Session::deadline() const {
    if (closing_deadline_) {
        return *closing_deadline_;
    }
    if (tls_ && !handshaken_) {
        return accepted_at_ + seconds(limits_.request_timeout_s);
    }
    auto due = [&] {
        if (request_started_) {
            return *request_started_ + seconds(limits_.request_timeout_s);
        }
        if (busy() || pending_output() > 0) {
            // Not idle now; look again after a full idle period.
            return Clock::now() + seconds(limits_.idle_timeout_s);
        }
        return last_activity_ + seconds(limits_.idle_timeout_s);
    }();
    return awaits_hello() ? std::min(due, hello_due()) : due;
}

asio::awaitable<void> Session::watchdog(std::shared_ptr<Session> /*keep_alive*/) {
    while (!closed_) {
        auto due = deadline();
        if (Clock::now() >= due) {
            close(flushed_            ? "it kept sending after its last reply"
                  : closing_deadline_ ? "it did not take its last replies"
                  : tls_ && !handshaken_
                      ? "its TLS handshake took too long (limits.request_timeout_s)"
                  : awaits_hello() && Clock::now() >= hello_due()
                      ? "it did not say hello with the token in time (limits.auth_timeout_s)"
                  : request_started_
                      ? "a request took too long to arrive (limits.request_timeout_s)"
                      : "idle (limits.idle_timeout_s)");
            co_return;
        }
        watchdog_timer_.expires_at(due);
        co_await watchdog_timer_.async_wait(no_throw);
    }
}

}  // namespace taskpool::daemon::net
