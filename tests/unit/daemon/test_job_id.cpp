#include "daemon/sched/job_id.hpp"

#include <set>

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
