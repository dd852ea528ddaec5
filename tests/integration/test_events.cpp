// GET /v1/events: Server-Sent Events of job and batch events (PROTOCOL.md section 8).
#include <chrono>
#include <optional>
#include <string>

#include <doctest/doctest.h>

#include "../support/daemon_process.hpp"
#include "../support/line_client.hpp"
#include "../support/request_ok.hpp"

using namespace taskpool::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// A client of GET /v1/events: the response's head, then its events one by one.
class EventStream {
public:
    struct Event {
        std::string id;
        std::string name;
        json data;
    };

    explicit EventStream(std::uint16_t port, const std::string& query = "",
                         const std::string& headers = "")
        : c_(port) {
        c_.send_raw("GET /v1/events" + query + " HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n");
        status_line = c_.read_line().value_or("");
        while (auto line = c_.read_line()) {
            if (*line == "\r") {
                break;
            }
            head += *line + "\n";
        }
    }

    /// The next event, past comments and the `retry` frame; none once the stream
    /// ended or nothing came in time.
    std::optional<Event> next(std::chrono::milliseconds timeout = 10s) {
        Event e;
        while (auto line = c_.read_line(timeout)) {
            if (line->empty()) {
                if (!e.name.empty()) {
                    return e;
                }
                continue;  // a frame with no event
            }
            if (line->starts_with("id: ")) {
                e.id = line->substr(4);
            } else if (line->starts_with("event: ")) {
                e.name = line->substr(7);
            } else if (line->starts_with("data: ")) {
                e.data = json::parse(line->substr(6));
            }
        }
        return std::nullopt;
    }

    /// The next event that is not about `job`'s earlier life (job.started of a job
    /// already seen, say): the first of these names.
    Event next_named(const std::string& name) {
        for (;;) {
            auto e = next();
            REQUIRE_MESSAGE(e.has_value(), "no " << name << " came");
            if (e->name == name) {
                return *e;
            }
        }
    }

    LineClient& client() { return c_; }
    std::string status_line;
    std::string head;

private:
    LineClient c_;
};

std::uint64_t seq_of(const std::string& id) {
    return std::stoull(id.substr(id.find('.') + 1));
}

}  // namespace

TEST_CASE("events.a_stream_carries_each_event_numbered_in_order" * doctest::timeout(60)) {
    DaemonProcess d;
    EventStream stream(d.port());
    CHECK(stream.status_line.starts_with("HTTP/1.1 200"));
    CHECK(stream.head.find("text/event-stream") != std::string::npos);
    LineClient c(d.port());
    auto job = submit(c, {{"task", "echo"}, {"args", {{"x", 1}}}, {"wait", 10}});
    auto started = stream.next_named("job.started");
    CHECK(started.data["event"] == "job.started");
    CHECK(started.data["job"]["id"] == job["id"]);
    auto finished = stream.next_named("job.finished");
    CHECK(finished.data["job"] == job);
    CHECK(seq_of(finished.id) > seq_of(started.id));

    auto map = ok(c, {{"op", "map"}, {"task", "echo"}, {"items", {1, 2}}});
    auto batch = stream.next_named("batch.finished");
    CHECK(batch.data["batch"] == map["batch"]);
    CHECK(batch.data["counts"]["succeeded"] == 2);
}

TEST_CASE("events.filters_by_job_task_state_and_queue" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    EventStream failures(d.port(), "?task=fail&state=failed");
    EventStream mail(d.port(), "?queue=mail");
    submit(c, {{"task", "echo"}, {"wait", 10}});
    auto failed = submit(c, {{"task", "fail"}, {"wait", 10}});
    auto queued = submit(c, {{"task", "echo"}, {"queue", "mail"}, {"wait", 10}});
    auto first = failures.next();
    REQUIRE(first);
    CHECK(first->name == "job.finished");
    CHECK(first->data["job"]["id"] == failed["id"]);
    auto in_mail = mail.next();
    REQUIRE(in_mail);
    CHECK(in_mail->name == "job.started");
    CHECK(in_mail->data["job"]["id"] == queued["id"]);

    auto later = submit(c, {{"task", "sleep"}, {"args", {{"seconds", 0.3}}}});
    EventStream one(d.port(), "?job=" + later["id"].get<std::string>());
    ok(c, {{"op", "map"}, {"task", "echo"}, {"items", {1}}});  // no batch.finished for it
    auto end = one.next_named("job.finished");
    CHECK(end.data["job"]["id"] == later["id"]);

    for (std::string bad : {"?state=done", "?colour=red"}) {
        auto response = http_call(d.port(), "GET", "/v1/events" + bad);
        CHECK(response.status == 400);
    }
    CHECK(http_call(d.port(), "POST", "/v1/events").status == 405);
    // HEAD has the head alone, and the connection goes on.
    LineClient http(d.port());
    http.send_raw(
        "HEAD /v1/events HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    auto head = http.read_http_response();
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->headers["content-type"].starts_with("text/event-stream"));
    auto health = http.read_http_response();
    REQUIRE(health);
    CHECK(health->status == 200);
}

TEST_CASE("events.last_event_id_resumes_where_the_client_left" * doctest::timeout(60)) {
    DaemonProcess d;
    LineClient c(d.port());
    std::string last;
    {
        EventStream stream(d.port());
        submit(c, {{"task", "echo"}, {"args", "first"}, {"wait", 10}});
        last = stream.next_named("job.finished").id;
    }
    auto second = submit(c, {{"task", "echo"}, {"args", "second"}, {"wait", 10}});
    EventStream resumed(d.port(), "", "Last-Event-ID: " + last + "\r\n");
    auto missed = resumed.next_named("job.started");
    CHECK(missed.data["job"]["id"] == second["id"]);
    CHECK(seq_of(missed.id) == seq_of(last) + 1);

    // An id from another daemon, or from before a restart: every event kept.
    EventStream foreign(d.port(), "", "Last-Event-ID: 1.99\r\n");
    auto oldest = foreign.next_named("job.started");
    CHECK(oldest.data["job"]["args"] == "first");
}

TEST_CASE("events.a_stream_needs_the_read_scope" * doctest::timeout(60)) {
    DaemonProcess d(
        {.config = {{"auth",
                     {{"token", "root-token"},
                      {"tokens",
                       {{{"name", "reader"}, {"token", "r"}, {"scopes", {"read"}}},
                        {{"name", "worker"}, {"token", "w"}, {"scopes", {"worker"}}}}}}}}});
    EventStream none(d.port());
    CHECK(none.status_line.starts_with("HTTP/1.1 401"));
    EventStream worker(d.port(), "", "Authorization: Bearer w\r\n");
    CHECK(worker.status_line.starts_with("HTTP/1.1 403"));
    EventStream reader(d.port(), "", "Authorization: Bearer r\r\n");
    CHECK(reader.status_line.starts_with("HTTP/1.1 200"));
}

TEST_CASE("events.a_stream_that_does_not_read_is_cut_and_the_daemon_serves_on" *
          doctest::timeout(60)) {
    DaemonProcess d({.config = {{"limits", {{"max_output_buffer_bytes", 65536}}}}});
    EventStream deaf(d.port());
    LineClient c(d.port());
    CHECK(submit_until_connections(c, 1));
    CHECK(deaf.client().closed_by_peer());
    CHECK(c.request({{"op", "ping"}})["pong"] == true);
}
