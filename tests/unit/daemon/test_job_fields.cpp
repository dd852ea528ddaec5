#include <doctest/doctest.h>

#include "daemon/cluster/job_fields.hpp"

using namespace taskpool;
using daemon::cluster::JobFields;
using daemon::cluster::RedisReply;

namespace {

proto::RawJson json_of(std::string_view text) {
    return *proto::RawJson::from_text(text);
}

proto::Timestamp at_ms(std::int64_t ms) {
    return proto::Timestamp(std::chrono::milliseconds(ms));
}

/// The hash as HGETALL answers it, of the name, value pairs the functions wrote.
RedisReply hash_of(const std::vector<std::string>& fields) {
    RedisReply hash{RedisReply::Kind::array, {}, 0, {}};
    for (const auto& text : fields) {
        hash.elements.push_back({RedisReply::Kind::string, text, 0, {}});
    }
    return hash;
}

/// The field's value among the pairs, or "" where it has none.
std::string value_of(const std::vector<std::string>& fields, std::string_view name) {
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        if (fields[i] == name) {
            return fields[i + 1];
        }
    }
    return "";
}

}  // namespace

TEST_CASE("job_fields.a_job_comes_back_from_its_hash_as_it_went_in") {
    daemon::sched::StoredJob s;
    proto::Job& j = s.job;
    j.id = "j-7";
    j.task = "resize";
    j.pool = proto::PoolKind::remote;
    j.args = json_of(R"({"b":1,"a":[1.5,"x\n"]})");  // key order and text kept
    j.priority = -40;
    j.submitted_at = at_ms(1765000000123);
    j.batch = std::string("b-1");
    j.queue = std::string("images");
    j.submitted_by = std::string("ci");
    j.schedule = std::string("nightly");
    j.after = {"j-1", "j-2"};
    s.timeout_s = 2.5;
    s.retry_backoff_s = 0.25;
    s.retries_left = 3;
    s.key = std::string("order-9");
    s.callback = proto::CallbackSpec{"http://127.0.0.1:9/hook", {"job.finished"}};
    s.then = json_of(R"({"task":"notify"})");
    j.attempts = 2;
    j.started_at = at_ms(1765000000200);
    j.worker = proto::WorkerInfo{0, 1, "w-3", "gpu-box"};
    j.finished_at = at_ms(1765000000300);
    j.result = json_of(R"({"ok":true})");
    j.state = proto::JobState::succeeded;

    std::vector<std::string> fields{"state", "succeeded"};
    JobFields::submitted(s, true, fields);
    JobFields::started(j, fields);
    JobFields::finished(j, fields);
    CHECK(value_of(fields, "cancellable") == "1");
    CHECK(value_of(fields, "retries") == "3");

    auto read = daemon::cluster::read_job(hash_of(fields));
    REQUIRE(read.ok());
    const auto& back = read->stored;
    CHECK(back.job.id == "j-7");
    CHECK(back.job.task == "resize");
    CHECK(back.job.pool == proto::PoolKind::remote);
    CHECK(back.job.args.text() == R"({"b":1,"a":[1.5,"x\n"]})");
    CHECK(back.job.priority == -40);
    CHECK(back.job.submitted_at == at_ms(1765000000123));
    CHECK(back.job.batch == j.batch);
    CHECK(back.job.queue == j.queue);
    CHECK(back.job.submitted_by == j.submitted_by);
    CHECK(back.job.schedule == j.schedule);
    CHECK(back.job.after == j.after);
    CHECK(back.timeout_s == 2.5);
    CHECK(back.retry_backoff_s == 0.25);
    CHECK(back.retries_left == 3);
    CHECK(back.key == s.key);
    REQUIRE(back.callback);
    CHECK(back.callback->url == "http://127.0.0.1:9/hook");
    CHECK(back.callback->events == std::vector<std::string>{"job.finished"});
    REQUIRE(back.then);
    CHECK(back.then->text() == R"({"task":"notify"})");
    CHECK(back.job.attempts == 2);
    CHECK(back.job.started_at == j.started_at);
    CHECK(back.job.worker == j.worker);
    CHECK(back.job.finished_at == j.finished_at);
    CHECK(back.job.result->text() == R"({"ok":true})");
    CHECK(back.job.state == proto::JobState::succeeded);
}

TEST_CASE("job_fields.a_plain_job_has_few_fields_and_defaults_have_none") {
    // Each field a script sets costs Redis a scan and an append of the hash.
    daemon::sched::StoredJob s;
    s.job.id = "j-1";
    s.job.task = "echo";
    s.job.args = json_of("[1]");
    std::vector<std::string> fields;
    JobFields::submitted(s, false, fields);
    CHECK(fields.size() == 6);  // pool, task, spec
    CHECK(value_of(fields, "retries").empty());
    CHECK(value_of(fields, "cancellable").empty());

    s.job.worker = proto::WorkerInfo{4242, 0, {}, {}};
    s.job.started_at = at_ms(5);
    std::vector<std::string> ran;
    JobFields::ran(s.job, ran);
    auto read = daemon::cluster::read_job(hash_of(fields));
    REQUIRE(read.ok());
    CHECK(read->stored.retries_left == 0);
    CHECK(read->stored.job.attempts == 0);
    fields.insert(fields.end(), ran.begin(), ran.end());
    read = daemon::cluster::read_job(hash_of(fields));
    REQUIRE(read.ok());
    CHECK(read->stored.job.worker == s.job.worker);
}

TEST_CASE("job_fields.a_spec_field_of_a_later_version_is_left_alone_and_a_wrong_one_refused") {
    auto read = daemon::cluster::read_job(hash_of(
        {"task", "echo", "spec", R"({"id":"j-1","args":null,"priority":0,"lane_hint":"x"})"}));
    REQUIRE(read.ok());
    CHECK(read->stored.job.id == "j-1");

    auto wrong = daemon::cluster::read_job(
        hash_of({"task", "echo", "spec", R"({"id":"j-1","args":null,"priority":"high"})"}));
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().message.find("job j-1") != std::string::npos);
    CHECK_FALSE(daemon::cluster::read_job(hash_of({"task", "echo", "spec", "[1]"})).ok());
}
