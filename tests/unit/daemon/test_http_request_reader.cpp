#include "daemon/http/request_reader.hpp"

#include <string>

#include <doctest/doctest.h>

using taskpool::daemon::http::RequestReader;
using ReaderStatus = RequestReader::Status;

namespace {

/// Feeds `bytes` and reads past the head: the status of the request after it.
ReaderStatus read_request(RequestReader& r, const std::string& bytes) {
    r.feed(bytes);
    auto status = r.next();
    if (status == ReaderStatus::head) {
        status = r.next();
    }
    return status;
}

}  // namespace

TEST_CASE("http.request_reader.reads_a_request_with_a_body") {
    RequestReader r({1024});
    r.feed(
        "POST /v1/jobs?wait=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
        "Content-Length: 7\r\n\r\n{\"a\":1}");
    REQUIRE(r.next() == ReaderStatus::head);
    CHECK(r.request().method == "POST");
    CHECK(r.request().target == "/v1/jobs?wait=5");
    CHECK(r.request().authorization == "Bearer s3cret");
    CHECK(r.request().content_length == 7);
    CHECK(r.request().body.empty());
    REQUIRE(r.next() == ReaderStatus::request);
    CHECK(r.request().body == "{\"a\":1}");
    CHECK(r.request().keep_alive);
    CHECK_FALSE(r.has_partial());
    CHECK(r.next() == ReaderStatus::incomplete);
}

TEST_CASE("http.request_reader.one_byte_at_a_time") {
    RequestReader r({1024});
    std::string bytes = "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    int heads = 0;
    int requests = 0;
    std::string body;
    for (char c : bytes) {
        r.feed(std::string(1, c));
        for (auto s = r.next(); s != ReaderStatus::incomplete; s = r.next()) {
            REQUIRE(s != ReaderStatus::error);
            heads += s == ReaderStatus::head ? 1 : 0;
            if (s == ReaderStatus::request) {
                ++requests;
                body = r.request().body;
            }
        }
        if (requests == 0) {
            CHECK(r.has_partial());
        }
    }
    CHECK(heads == 1);
    REQUIRE(requests == 1);
    CHECK(body == "abc");
}

TEST_CASE("http.request_reader.pipelined_requests_come_one_at_a_time") {
    RequestReader r({1024});
    r.feed("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c");
    CHECK(read_request(r, "") == ReaderStatus::request);
    CHECK(r.request().target == "/a");
    CHECK(r.request().keep_alive);
    CHECK(r.unparsed_bytes() > 0);
    CHECK(read_request(r, "") == ReaderStatus::request);
    CHECK(r.request().target == "/b");
    CHECK_FALSE(r.request().keep_alive);
    CHECK(r.next() == ReaderStatus::incomplete);
    CHECK(r.has_partial());
}

TEST_CASE("http.request_reader.http_1_0_closes_unless_keep_alive") {
    RequestReader r({1024});
    CHECK(read_request(r, "GET / HTTP/1.0\r\n\r\n") == ReaderStatus::request);
    CHECK_FALSE(r.request().keep_alive);
    RequestReader k({1024});
    CHECK(read_request(k, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") ==
          ReaderStatus::request);
    CHECK(k.request().keep_alive);
}

TEST_CASE("http.request_reader.expect_continue_is_seen_at_the_head") {
    RequestReader r({1024});
    r.feed("POST /v1/jobs HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
    REQUIRE(r.next() == ReaderStatus::head);
    CHECK(r.request().expect_continue);
    CHECK(r.next() == ReaderStatus::incomplete);
    r.feed("{}");
    REQUIRE(r.next() == ReaderStatus::request);
    CHECK(r.request().body == "{}");
}

TEST_CASE("http.request_reader.body_over_the_limit_is_413_before_it_is_read") {
    RequestReader r({100});
    r.feed("POST /v1/jobs HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
    REQUIRE(r.next() == ReaderStatus::error);
    CHECK(r.error().status == 413);
    r.feed(std::string(101, 'x'));
    CHECK(r.next() == ReaderStatus::error);  // stays failed
}

TEST_CASE("http.request_reader.smuggling_attempts_are_400") {
    SUBCASE("content-length with transfer-encoding") {
        RequestReader r({1024});
        CHECK(read_request(r,
                           "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: "
                           "chunked\r\n\r\n0\r\n\r\n") == ReaderStatus::error);
        CHECK(r.error().status == 400);
    }
    SUBCASE("two different lengths") {
        RequestReader r({1024});
        CHECK(read_request(r,
                           "POST / HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: "
                           "5\r\n\r\nabcde") == ReaderStatus::error);
        CHECK(r.error().status == 400);
    }
    SUBCASE("a length that is not a number") {
        RequestReader r({1024});
        CHECK(read_request(r, "POST / HTTP/1.1\r\nContent-Length: 4x\r\n\r\nabcd") ==
              ReaderStatus::error);
        CHECK(r.error().status == 400);
    }
}

TEST_CASE("http.request_reader.framing_is_as_strict_as_rfc_9112") {
    auto status_of = [](const std::string& bytes) {
        RequestReader r({1024});
        auto s = read_request(r, bytes);
        return s == ReaderStatus::error ? r.error().status : 0;
    };
    CHECK(status_of("POST / HTTP/1.1\r\nContent-Length : 2\r\n\r\n{}") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nX Forwarded: 1\r\n\r\n") == 400);
    CHECK(status_of("GET  / HTTP/1.1\r\n\r\n") == 400);
    CHECK(status_of("GET /  HTTP/1.1\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1 \r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.2\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/2.0\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTX/1.1\r\n\r\n") == 400);
    CHECK(status_of("\r\nGET / HTTP/1.1\r\nX-Ok: 1\r\n\r\n") == 0);  // a blank line first
    CHECK(status_of("GET / HTTP/1.0\r\n\r\n") == 0);
}

TEST_CASE("http.request_reader.chunked_bodies_get_411") {
    RequestReader r({1024});
    CHECK(read_request(
              r, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n") ==
          ReaderStatus::error);
    CHECK(r.error().status == 411);
}

TEST_CASE("http.request_reader.header_floods_get_431") {
    SUBCASE("too many headers") {
        RequestReader r({1024});
        std::string head = "GET / HTTP/1.1\r\n";
        for (int i = 0; i < 100; ++i) {
            head += "X-" + std::to_string(i) + ": y\r\n";
        }
        CHECK(read_request(r, head + "\r\n") == ReaderStatus::error);
        CHECK(r.error().status == 431);
    }
    SUBCASE("one endless header, never finished") {
        RequestReader r({1024});
        r.feed("GET / HTTP/1.1\r\nX-Long: ");
        auto status = ReaderStatus::incomplete;
        for (int i = 0; i < 100 && status == ReaderStatus::incomplete; ++i) {
            r.feed(std::string(1000, 'a'));
            status = r.next();
        }
        CHECK(status == ReaderStatus::error);
        CHECK(r.error().status == 431);
    }
}

TEST_CASE("http.request_reader.garbage_is_400") {
    RequestReader future({1024});
    CHECK(read_request(future, "GET / HTTP/2.0\r\n\r\n") == ReaderStatus::error);
    CHECK(future.error().status == 505);
    for (const char* garbage :
         {"GET  HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nBad Header\r\n\r\n", "\x01\x02\x03\r\n"}) {
        CAPTURE(std::string(garbage));
        RequestReader r({1024});
        CHECK(read_request(r, garbage) == ReaderStatus::error);
        CHECK(r.error().status == 400);
    }
}
