#include <doctest/doctest.h>

#include "daemon/cluster/redis_url.hpp"

using taskpool::daemon::cluster::RedisUrl;

TEST_CASE("redis_url.the_parts_and_their_defaults") {
    auto plain = RedisUrl::parse("redis://cache.internal");
    REQUIRE(plain.ok());
    CHECK(plain->host == "cache.internal");
    CHECK(plain->port == 6379);
    CHECK_FALSE(plain->password);
    CHECK(plain->db == 0);

    auto full = RedisUrl::parse("redis://jobs:p%40ss%3Aword@10.0.0.7:6380/2");
    REQUIRE(full.ok());
    CHECK(full->user == "jobs");
    CHECK(full->password == "p@ss:word");
    CHECK(full->host == "10.0.0.7");
    CHECK(full->port == 6380);
    CHECK(full->db == 2);

    auto no_user = RedisUrl::parse("redis://:secret@[::1]:7000");
    REQUIRE(no_user.ok());
    CHECK_FALSE(no_user->user);
    CHECK(no_user->password == "secret");
    CHECK(no_user->host == "::1");
    CHECK(no_user->port == 7000);
}

TEST_CASE("redis_url.shown_never_holds_the_password") {
    auto url = RedisUrl::parse("redis://jobs:hunter2@db:6380/3");
    REQUIRE(url.ok());
    CHECK(url->shown() == "redis://jobs:***@db:6380/3");
    CHECK(RedisUrl::parse("redis://:hunter2@[::1]")->shown() == "redis://:***@[::1]:6379");
    CHECK(RedisUrl::parse("redis://db")->shown() == "redis://db:6379");
}

TEST_CASE("redis_url.mistakes_are_named_without_the_password") {
    struct Case {
        const char* url;
        const char* says;
    };
    for (auto [url, says] : {
             Case{"http://db:6379", "must begin with redis://"},
             Case{"rediss://db:6379", "TLS to Redis"},
             Case{"redis://hunter2@db", "a password goes after a colon"},
             Case{"redis://:hunter2%4@db", "must begin an escape"},
             Case{"redis://:hunter2@", "no host"},
             Case{"redis://:hunter2@db:0", "from 1 to 65535"},
             Case{"redis://:hunter2@db:70000", "from 1 to 65535"},
             Case{"redis://:hunter2@db:x", "from 1 to 65535"},
             Case{"redis://:hunter2@db/-1", "a whole number from 0"},
             Case{"redis://:hunter2@[::1", "lacks its ]"},
         }) {
        CAPTURE(url);
        auto parsed = RedisUrl::parse(url);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.error().message.find(says) != std::string::npos);
        CHECK(parsed.error().message.find("hunter2") == std::string::npos);
    }
}
