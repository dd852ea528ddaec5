#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <asio/io_context.hpp>

#include "../support/redis_server.hpp"
#include "daemon/cluster/redis_connection.hpp"
#include "daemon/cluster/redis_script.hpp"

using taskpool::daemon::cluster::RedisConnection;
using taskpool::daemon::cluster::RedisReply;
using taskpool::daemon::cluster::RedisScript;
using taskpool::daemon::cluster::RedisUrl;
using taskpool::proto::Error;
using taskpool::proto::Result;
using taskpool::test::RedisServer;

namespace {

RedisUrl url_of(const std::string& text) {
    auto url = RedisUrl::parse(text);
    REQUIRE(url.ok());
    return *url;
}

/// Runs one command to its reply.
Result<RedisReply> call(asio::io_context& io, RedisConnection& c,
                        std::initializer_list<std::string_view> args) {
    std::optional<Result<RedisReply>> got;
    c.command(args, [&](Result<RedisReply> r) { got = std::move(r); });
    io.restart();
    while (!got && io.run_one_for(std::chrono::seconds(10)) > 0) {
    }
    REQUIRE(got);
    return std::move(*got);
}

}  // namespace

TEST_CASE("redis.commands_of_one_turn_come_back_in_order" * doctest::timeout(60)) {
    RedisServer redis;
    asio::io_context io;
    auto c = RedisConnection::open(io, url_of(redis.url()), nullptr);
    std::vector<long long> counts;
    constexpr int n = 20000;
    for (int i = 0; i < n; ++i) {
        c->command({"INCR", "counter"}, [&](Result<RedisReply> r) {
            REQUIRE(r.ok());
            counts.push_back(r->integer);
        });
    }
    while (counts.size() < n && io.run_one_for(std::chrono::seconds(10)) > 0) {
    }
    REQUIRE(counts.size() == n);
    for (int i = 0; i < n; ++i) {
        CHECK_MESSAGE(counts[i] == i + 1, "reply " << i);
    }
    // Made in one turn, they went out together: Redis read them in a few reads,
    // not one each.
    auto stats = call(io, *c, {"INFO", "stats"});
    REQUIRE(stats.ok());
    auto at = stats->text.find("total_reads_processed:");
    REQUIRE(at != std::string::npos);
    CHECK(std::stoll(stats->text.substr(at + 22)) < n / 10);
}

TEST_CASE("redis.an_error_reply_is_a_reply_and_nil_and_arrays_are_read" * doctest::timeout(60)) {
    RedisServer redis;
    asio::io_context io;
    auto c = RedisConnection::open(io, url_of(redis.url()), nullptr);
    REQUIRE(call(io, *c, {"SET", "text", "not a number"}).ok());
    auto wrong = call(io, *c, {"INCR", "text"});
    REQUIRE(wrong.ok());
    CHECK(wrong->kind == RedisReply::Kind::error);
    CHECK(wrong->text.find("not an integer") != std::string::npos);

    auto none = call(io, *c, {"GET", "absent"});
    REQUIRE(none.ok());
    CHECK(none->kind == RedisReply::Kind::nil);

    std::string binary("a\0b\r\nc", 6);
    REQUIRE(call(io, *c, {"RPUSH", "list", binary, "two"}).ok());
    auto list = call(io, *c, {"LRANGE", "list", "0", "-1"});
    REQUIRE(list.ok());
    REQUIRE(list->kind == RedisReply::Kind::array);
    REQUIRE(list->elements.size() == 2);
    CHECK(list->elements[0].text == binary);
    CHECK(list->elements[1].text == "two");
}

TEST_CASE("redis.the_password_is_sent_and_never_shown" * doctest::timeout(60)) {
    RedisServer redis({.password = "hunter2"});
    asio::io_context io;
    auto c = RedisConnection::open(io, url_of(redis.url()), nullptr);
    auto pong = call(io, *c, {"PING"});
    REQUIRE(pong.ok());
    CHECK(pong->text == "PONG");

    std::optional<Error> closed;
    auto wrong = RedisConnection::open(
        io, url_of("redis://:wrong-one@127.0.0.1:" + std::to_string(redis.port())),
        [&](Error e) { closed = e; });
    auto refused = call(io, *wrong, {"PING"});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == taskpool::proto::ErrorCode::unavailable);
    CHECK(refused.error().message.find("refused the password") != std::string::npos);
    CHECK(refused.error().message.find("wrong-one") == std::string::npos);
    REQUIRE(closed);
    CHECK(wrong->closed());
}

TEST_CASE("redis.a_server_that_dies_fails_what_is_pending_once" * doctest::timeout(60)) {
    RedisServer redis;
    asio::io_context io;
    int closings = 0;
    auto c = RedisConnection::open(io, url_of(redis.url()), [&](Error) { ++closings; });
    REQUIRE(call(io, *c, {"PING"}).ok());
    redis.kill();
    auto lost = call(io, *c, {"PING"});
    REQUIRE_FALSE(lost.ok());
    CHECK(lost.error().code == taskpool::proto::ErrorCode::unavailable);
    auto after = call(io, *c, {"PING"});
    REQUIRE_FALSE(after.ok());
    CHECK(after.error().message.find("not connected") != std::string::npos);
    CHECK(closings == 1);
}

TEST_CASE("redis.nothing_listening_is_unavailable" * doctest::timeout(60)) {
    std::uint16_t port = 0;
    {
        RedisServer gone;
        port = gone.port();
    }
    asio::io_context io;
    auto c =
        RedisConnection::open(io, url_of("redis://127.0.0.1:" + std::to_string(port)), nullptr);
    auto r = call(io, *c, {"PING"});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("cannot connect") != std::string::npos);
}

TEST_CASE("redis.a_redis_that_hangs_fails_its_commands_in_time" * doctest::timeout(60)) {
    RedisServer redis;
    asio::io_context io;
    auto c =
        RedisConnection::open(io, url_of(redis.url()), nullptr, std::chrono::milliseconds(300));
    REQUIRE(call(io, *c, {"PING"}).ok());
    redis.pause();
    auto started = std::chrono::steady_clock::now();
    auto late = call(io, *c, {"PING"});
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().message.find("no reply in 0.3 s") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(300));
    CHECK(c->closed());
    redis.resume();
}

TEST_CASE("redis.a_subscriber_gets_what_is_published_in_order" * doctest::timeout(60)) {
    RedisServer redis;
    asio::io_context io;
    auto publisher = RedisConnection::open(io, url_of(redis.url()), nullptr);
    auto subscriber = RedisConnection::open(io, url_of(redis.url()), nullptr);
    std::vector<std::pair<std::string, std::string>> got;
    std::optional<Result<RedisReply>> subscribed;
    subscriber->subscribe(
        {"jobs", "nodes"},
        [&](std::string_view channel, std::string_view message) {
            got.emplace_back(channel, message);
        },
        [&](Result<RedisReply> r) { subscribed = std::move(r); });
    io.restart();
    while (!subscribed && io.run_one_for(std::chrono::seconds(10)) > 0) {
    }
    REQUIRE(subscribed->ok());
    // Both channels are confirmed by now: a message on either reaches it.
    auto receivers = call(io, *publisher, {"PUBLISH", "nodes", "n-1 up"});
    REQUIRE(receivers.ok());
    CHECK(receivers->integer == 1);
    for (int i = 0; i < 100; ++i) {
        publisher->command({"PUBLISH", "jobs", "j-" + std::to_string(i)}, [](auto) {});
    }
    while (got.size() < 101 && io.run_one_for(std::chrono::seconds(10)) > 0) {
    }
    REQUIRE(got.size() == 101);
    CHECK(got[0] == std::pair<std::string, std::string>{"nodes", "n-1 up"});
    for (int i = 0; i < 100; ++i) {
        CHECK(got[i + 1] == std::pair<std::string, std::string>{"jobs", "j-" + std::to_string(i)});
    }
}

TEST_CASE("redis.a_script_runs_by_its_sha1_and_is_sent_again_where_redis_lost_it" *
          doctest::timeout(60)) {
    RedisServer redis;
    asio::io_context io;
    auto c = RedisConnection::open(io, url_of(redis.url()), nullptr);
    // Two keys changed at once, as a job's state moves between lists.
    RedisScript move(R"(
        local n = redis.call('INCRBY', KEYS[1], ARGV[1])
        redis.call('DECRBY', KEYS[2], ARGV[1])
        return {n, redis.call('GET', KEYS[2])}
    )");
    auto run = [&] {
        std::optional<Result<RedisReply>> got;
        move.call(*c, {"{t}:a", "{t}:b"}, {"5"}, [&](Result<RedisReply> r) { got = std::move(r); });
        io.restart();
        while (!got && io.run_one_for(std::chrono::seconds(10)) > 0) {
        }
        REQUIRE(got);
        REQUIRE(got->ok());
        REQUIRE((*got)->kind == RedisReply::Kind::array);
        return (*got)->elements;
    };
    auto first = run();  // Redis has never seen it: NOSCRIPT, then EVAL
    CHECK(first[0].integer == 5);
    CHECK(first[1].text == "-5");
    CHECK(run()[0].integer == 10);  // by its SHA1 now
    REQUIRE(call(io, *c, {"SCRIPT", "FLUSH"}).ok());
    CHECK(run()[0].integer == 15);  // lost, and sent again

    auto stats = call(io, *c, {"INFO", "commandstats"});
    REQUIRE(stats.ok());
    auto calls = [&](const std::string& command) {
        auto at = stats->text.find("cmdstat_" + command + ":calls=");
        REQUIRE(at != std::string::npos);
        return std::stoi(stats->text.substr(at + command.size() + 15));
    };
    CHECK(calls("evalsha") == 3);
    CHECK(calls("eval") == 2);
}
