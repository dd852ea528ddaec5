#include "redis_connection.hpp"

#include "daemon/base/io_thread_signals.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>

#include <asio/connect.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

namespace taskpool::daemon::cluster {
namespace {

/// A command as Redis reads it: an array of bulk strings (`*2\r\n$3\r\nGET\r\n...`).
/// Written here rather than by hiredis's formatter, which makes each length with
/// sprintf and the whole command in a buffer of its own: a node spent a tenth of
/// its time there.
void append_command(std::string& out, std::span<const std::string_view> args) {
    std::size_t size = 16;
    for (auto a : args) {
        size += a.size() + 16;
    }
    out.reserve(out.size() + size);
    auto header = [&out](char mark, std::size_t n) {
        char digits[24];
        auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
        out += mark;
        out.append(digits, end);
        out += "\r\n";
    };
    header('*', args.size());
    for (auto a : args) {
        header('$', a.size());
        out += a;
        out += "\r\n";
    }
}

RedisReply copied(const redisReply& r) {
    RedisReply out;
    switch (r.type) {
        case REDIS_REPLY_STRING:
            out.kind = RedisReply::Kind::string;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_STATUS:
            out.kind = RedisReply::Kind::status;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_ERROR:
            out.kind = RedisReply::Kind::error;
            out.text.assign(r.str, r.len);
            break;
        case REDIS_REPLY_INTEGER:
            out.kind = RedisReply::Kind::integer;
            out.integer = r.integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.kind = RedisReply::Kind::array;
            out.elements.reserve(r.elements);
            for (std::size_t i = 0; i < r.elements; ++i) {
                out.elements.push_back(copied(*r.element[i]));
            }
            break;
        default:
            break;  // nil
    }
    return out;
}

/// Where the connection goes, for messages: never with the password.
std::string where(const RedisUrl& url) {
    return "Redis at " + url.shown();
}

}  // namespace

std::shared_ptr<RedisConnection> RedisConnection::open(asio::io_context& io, const RedisUrl& url,
                                                       std::function<void(proto::Error)> closed,
                                                       std::chrono::milliseconds reply_timeout) {
    std::shared_ptr<RedisConnection> c(
        new RedisConnection(io, url, std::move(closed), reply_timeout));
    c->start();
    return c;
}

RedisConnection::RedisConnection(asio::io_context& io, RedisUrl url,
                                 std::function<void(proto::Error)> closed,
                                 std::chrono::milliseconds reply_timeout)
    : io_(io),
      url_(std::move(url)),
      on_closed_(std::move(closed)),
      resolver_(io),
      socket_(io),
      reader_(redisReaderCreate()),
      reply_timeout_(reply_timeout),
      timer_(io) {}

RedisConnection::~RedisConnection() {
    redisReaderFree(reader_);
}

void RedisConnection::start() {
    // What the connection needs goes first, ahead of whatever is queued meanwhile.
    auto refused = [this](const char* what) {
        return [this, what](proto::Result<RedisReply> reply) {
            if (reply && reply->kind == RedisReply::Kind::error) {
                fail(std::string(what) + ": " + reply->text);
            }
        };
    };
    if (url_.password) {
        if (url_.user) {
            command({"AUTH", *url_.user, *url_.password},
                    refused("it refused the user and password"));
        } else {
            command({"AUTH", *url_.password}, refused("it refused the password"));
        }
    }
    if (url_.db != 0) {
        command({"SELECT", std::to_string(url_.db)}, refused("it refused the database"));
    }
    SignalsHeldBack held;  // Asio may start its resolver thread here
    resolver_.async_resolve(
        url_.host, std::to_string(url_.port),
        [self = shared_from_this()](std::error_code ec,
                                    asio::ip::tcp::resolver::results_type found) {
            if (self->closed_) {
                return;
            }
            if (ec) {
                self->fail("cannot find the host: " + ec.message());
                return;
            }
            asio::async_connect(self->socket_, found, [self](std::error_code failed, const auto&) {
                if (self->closed_) {
                    return;
                }
                if (failed) {
                    self->fail("cannot connect: " + failed.message());
                    return;
                }
                std::error_code ignored;
                self->socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
                self->connected_ = true;
                self->write_pending();
                self->read_more();
            });
        });
}

void RedisConnection::command(std::initializer_list<std::string_view> args, Handler on_reply) {
    command(std::span<const std::string_view>(args.begin(), args.size()), std::move(on_reply));
}

void RedisConnection::command(const std::vector<std::string>& args, Handler on_reply) {
    std::vector<std::string_view> views(args.begin(), args.end());
    command(std::span<const std::string_view>(views), std::move(on_reply));
}

void RedisConnection::command(std::span<const std::string_view> args, Handler on_reply) {
    if (closed_) {
        on_reply(proto::Error{proto::ErrorCode::unavailable, where(url_) + ": not connected"});
        return;
    }
    append_command(out_, args);
    pending_.push_back({std::move(on_reply), Clock::now()});
    watch_replies();
    // The rest of this turn's commands join it in the same write.
    if (connected_ && !writing_now_ && !write_posted_) {
        write_posted_ = true;
        asio::post(io_, [self = shared_from_this()] {
            self->write_posted_ = false;
            self->write_pending();
        });
    }
}

void RedisConnection::write_pending() {
    if (closed_ || writing_now_ || out_.empty()) {
        return;
    }
    writing_now_ = true;
    std::swap(out_, writing_);
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](std::error_code ec, std::size_t) {
                          self->writing_now_ = false;
                          self->writing_.clear();
                          if (self->closed_) {
                              return;
                          }
                          if (ec) {
                              self->fail("cannot write: " + ec.message());
                              return;
                          }
                          self->write_pending();
                      });
}

void RedisConnection::read_more() {
    socket_.async_read_some(
        asio::buffer(in_), [self = shared_from_this()](std::error_code ec, std::size_t n) {
            if (self->closed_) {
                return;
            }
            if (ec) {
                self->fail(ec == asio::error::eof ? "it closed the connection"
                                                  : "cannot read: " + ec.message());
                return;
            }
            if (!self->take_replies(self->in_.data(), n)) {
                self->fail("it sent what is not RESP");
                return;
            }
            if (!self->closed_) {
                self->read_more();
            }
        });
}

bool RedisConnection::take_replies(const char* data, std::size_t size) {
    if (redisReaderFeed(reader_, data, size) != REDIS_OK) {
        return false;
    }
    for (;;) {
        void* raw = nullptr;
        if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
            return false;
        }
        if (raw == nullptr) {
            return true;
        }
        auto reply = copied(*static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (on_message_ && reply.kind == RedisReply::Kind::array && reply.elements.size() == 3 &&
            reply.elements[0].text == "message") {
            on_message_(reply.elements[1].text, reply.elements[2].text);
        } else {
            if (pending_.empty()) {
                return false;  // a reply to no command
            }
            auto handler = std::move(pending_.front().handler);
            pending_.pop_front();
            last_reply_ = Clock::now();
            handler(std::move(reply));
        }
        if (closed_) {  // the handler closed it, or a refused AUTH did
            return true;
        }
    }
}

void RedisConnection::subscribe(const std::vector<std::string>& channels, OnMessage on_message,
                                Handler on_subscribed) {
    on_message_ = std::move(on_message);
    std::vector<std::string> args{"SUBSCRIBE"};
    args.insert(args.end(), channels.begin(), channels.end());
    // Redis confirms each channel with a reply of its own: the last is the one
    // that says it has them all.
    auto last = [&](std::size_t i) {
        return i + 1 == channels.size() ? std::move(on_subscribed)
                                        : Handler([](proto::Result<RedisReply>) {});
    };
    command(args, last(0));
    for (std::size_t i = 1; i < channels.size(); ++i) {
        pending_.push_back({last(i), Clock::now()});
    }
}

RedisConnection::Clock::time_point RedisConnection::reply_due() const {
    // Redis answers in order: while replies come, a long pipeline is not a hang.
    return std::max(pending_.front().sent, last_reply_) + reply_timeout_;
}

void RedisConnection::watch_replies() {
    if (watching_ || closed_ || pending_.empty()) {
        return;
    }
    watching_ = true;
    timer_.expires_at(reply_due());
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        self->watching_ = false;
        if (ec || self->closed_ || self->pending_.empty()) {
            return;
        }
        if (Clock::now() >= self->reply_due()) {
            auto ms = self->reply_timeout_.count();
            self->fail("no reply in " + std::to_string(ms / 1000) + "." +
                       std::to_string(ms % 1000 / 100) + " s");
            return;
        }
        self->watch_replies();  // the command it watched was answered: the next one
    });
}

void RedisConnection::close() {
    fail("closed");
}

void RedisConnection::fail(std::string why) {
    if (closed_) {
        return;
    }
    closed_ = true;
    std::error_code ignored;
    resolver_.cancel();
    socket_.close(ignored);
    timer_.cancel();
    proto::Error error{proto::ErrorCode::unavailable, where(url_) + ": " + why};
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& p : pending) {
        p.handler(error);
    }
    if (on_closed_) {
        std::exchange(on_closed_, nullptr)(error);
    }
}

}  // namespace taskpool::daemon::cluster
