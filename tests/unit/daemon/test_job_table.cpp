#include "daemon/store/job_table.hpp"

#include <doctest/doctest.h>

using namespace taskpool::daemon::store;
using namespace std::chrono_literals;

namespace {

JobRecord record_of(std::uint64_t seq, std::string id, std::optional<std::string> key = {}) {
    JobRecord r;
    r.seq = seq;
    r.job.id = std::move(id);
    r.key = std::move(key);
    return r;
}

}  // namespace

TEST_CASE("job_table.find_by_id_and_key_and_newest_first") {
    JobTable table(1h, 100);
    table.insert(record_of(1, "a", "k1"));
    table.insert(record_of(2, "b"));
    table.insert(record_of(3, "c"));
    CHECK(table.find("b")->seq == 2);
    CHECK(table.find("zz") == nullptr);
    CHECK(table.find_by_key("k1")->job.id == "a");
    std::vector<std::string> order;
    table.newest_first([&](const JobRecord& r) {
        order.push_back(r.job.id);
        return true;
    });
    CHECK(order == std::vector<std::string>{"c", "b", "a"});
}

TEST_CASE("job_table.arrival_order_holds_through_late_inserts_and_evictions") {
    JobTable table(10s, 100);
    auto newest_first = [&] {
        std::vector<std::uint64_t> seqs;
        table.newest_first([&](const JobRecord& r) {
            seqs.push_back(r.seq);
            return true;
        });
        return seqs;
    };
    auto t0 = SteadyTime{} + 1h;
    table.insert(record_of(2, "b"));
    table.insert(record_of(5, "e"));
    table.insert(record_of(1, "a"));  // out of order: goes in its place
    table.insert(record_of(4, "d"));
    CHECK(newest_first() == std::vector<std::uint64_t>{5, 4, 2, 1});
    CHECK(table.find_by_seq(4)->job.id == "d");
    CHECK(table.find_by_seq(3) == nullptr);
    table.retain(*table.find_by_seq(5), t0);  // the newest
    table.retain(*table.find_by_seq(1), t0);  // the oldest
    table.retain(*table.find_by_seq(4), t0);  // one in the middle
    table.evict_expired(t0 + 1h, [](const JobRecord&) {});
    CHECK(newest_first() == std::vector<std::uint64_t>{2});
    table.insert(record_of(6, "f"));
    CHECK(newest_first() == std::vector<std::uint64_t>{6, 2});
}

TEST_CASE("job_table.finished_jobs_expire_after_their_ttl") {
    JobTable table(10s, 100);
    auto t0 = SteadyTime{} + 1h;
    table.retain(table.insert(record_of(1, "a", "k")), t0);
    table.retain(table.insert(record_of(2, "b")), t0 + 5s);
    table.insert(record_of(3, "running"));
    CHECK(table.next_eviction() == t0 + 10s);
    std::vector<std::uint64_t> evicted;
    auto note = [&](const JobRecord& r) { evicted.push_back(r.seq); };
    table.evict_expired(t0 + 10s, note);
    CHECK(evicted == std::vector<std::uint64_t>{1});
    CHECK(table.find("a") == nullptr);
    CHECK(table.find_by_key("k") == nullptr);  // the key is free again
    CHECK(table.find("b") != nullptr);
    CHECK(table.next_eviction() == t0 + 15s);
    table.evict_expired(t0 + 1h, note);
    CHECK(evicted == std::vector<std::uint64_t>{1, 2});
    CHECK(table.find("b") == nullptr);
    CHECK(table.find("running") != nullptr);  // unfinished jobs never expire
    CHECK_FALSE(table.next_eviction().has_value());
}

TEST_CASE("job_table.max_retained_drops_the_oldest_finished") {
    JobTable table(1h, 2);
    auto t0 = SteadyTime{} + 1h;
    for (int i = 1; i <= 4; ++i) {
        table.retain(table.insert(record_of(static_cast<std::uint64_t>(i), std::to_string(i))), t0);
    }
    CHECK(table.next_eviction() <= t0);
    table.evict_expired(t0, [](const JobRecord&) {});
    CHECK(table.find("1") == nullptr);
    CHECK(table.find("2") == nullptr);
    CHECK(table.find("3") != nullptr);
    CHECK(table.find("4") != nullptr);
}
