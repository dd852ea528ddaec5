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
