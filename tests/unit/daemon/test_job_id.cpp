#include "daemon/sched/job_id.hpp"

#include <chrono>
#include <set>
#include <string_view>

#include <doctest/doctest.h>

TEST_CASE("job_id.ids_are_unique_increasing_and_well_formed") {
    taskpool::daemon::sched::IdGenerator ids;
    std::string previous;
    std::set<std::string> seen;
    for (int i = 0; i < 100000; ++i) {
        auto id = ids.next("j-");
        REQUIRE(id.size() == 28);
        REQUIRE(id.rfind("j-", 0) == 0);
        REQUIRE(id > previous);
        previous = id;
        seen.insert(id);
    }
    CHECK(seen.size() == 100000);
    // Two generators (two daemon runs) do not collide.
    taskpool::daemon::sched::IdGenerator other;
    CHECK(seen.count(other.next("j-")) == 0);
}

TEST_CASE("job_id.the_first_ten_digits_are_the_time_in_milliseconds") {
    using namespace std::chrono;
    auto before = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    auto id = taskpool::daemon::sched::IdGenerator().next("j-");
    auto after = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    constexpr std::string_view crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    long long ms = 0;
    for (char c : id.substr(2, 10)) {
        ms = ms * 32 + static_cast<long long>(crockford.find(c));
    }
    CHECK(ms >= before);
    CHECK(ms <= after);
}

TEST_CASE("job_id.within_a_millisecond_the_random_part_counts_up_by_one") {
    taskpool::daemon::sched::IdGenerator ids;
    // Far in the future, so that every next id falls in "the same millisecond".
    ids.resume_after("j-7ZZZZZZZZZ00000000000000ZY");
    CHECK(ids.next("j-") == "j-7ZZZZZZZZZ00000000000000ZZ");
    CHECK(ids.next("j-") == "j-7ZZZZZZZZZ0000000000000100");
    ids.resume_after("j-7ZZZZZZZZZ000FZZZZZZZZZZZZ");  // the low 64 bits all ones
    CHECK(ids.next("j-") == "j-7ZZZZZZZZZ000G000000000000");
}

TEST_CASE("job_id.resume_after_keeps_ids_increasing_past_a_restored_one") {
    taskpool::daemon::sched::IdGenerator ids;
    // Made "later" than now: as if the clock had gone back since the last run.
    std::string future = "j-7ZZZZZZZZZ0000000000000000";
    ids.resume_after("b-not an id");
    ids.resume_after(future);
    auto a = ids.next("j-");
    auto b = ids.next("b-");
    CHECK(a > future);
    CHECK(b.substr(2) > a.substr(2));
    // An older id changes nothing.
    taskpool::daemon::sched::IdGenerator fresh;
    auto now = fresh.next("j-");
    fresh.resume_after("j-00000000000000000000000000");
    CHECK(fresh.next("j-") > now);
}
