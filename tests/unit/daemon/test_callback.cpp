#include "daemon/base/callback.hpp"

#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <string>

using taskpool::daemon::base::Callback;

TEST_CASE("callback.calls_moves_and_destroys_what_it_holds_once") {
    auto counter = std::make_shared<int>(0);
    {
        // A shared_ptr capture: std::function would allocate for it, this keeps it inline.
        Callback<int(int)> add = [counter](int n) { return *counter += n; };
        CHECK(add(2) == 2);
        Callback<int(int)> moved = std::move(add);
        CHECK_FALSE(add);
        CHECK(moved(3) == 5);
        CHECK(counter.use_count() == 2);
        moved = nullptr;
        CHECK(counter.use_count() == 1);
    }
    CHECK(counter.use_count() == 1);
}

TEST_CASE("callback.a_callable_too_large_to_keep_inline_works_the_same") {
    std::array<std::string, 8> big;  // far more than 48 bytes
    big[7] = "last";
    auto owner = std::make_shared<int>(7);
    Callback<std::string()> f = [big, owner] { return big[7] + std::to_string(*owner); };
    Callback<std::string()> g;
    g = std::move(f);
    CHECK(g() == "last7");
    CHECK(owner.use_count() == 2);
    g = nullptr;
    CHECK(owner.use_count() == 1);
}

TEST_CASE("callback.holds_a_move_only_callable") {
    auto value = std::make_unique<int>(41);
    Callback<int()> f = [v = std::move(value)] { return *v + 1; };
    CHECK(f() == 42);
}
