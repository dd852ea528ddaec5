#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "raw_json.hpp"

namespace taskpool::proto {

/// What a command writes to tell its progress (on fd 3), as progress values.
///
/// Each line is one value: its JSON where it is JSON, else the line itself as a
/// string, so that `echo "step 2 of 5" >&3` reads as it says. Progress is a state,
/// so of the lines that one read brings only the last counts. A line longer than
/// max_line is dropped whole.
class ProgressLines {
public:
    static constexpr std::size_t max_line = 64 * 1024;

    /// The value of the last whole line that `chunk` ends, if any.
    std::optional<RawJson> feed(std::string_view chunk);

private:
    std::string line_;
    bool too_long_ = false;
};

}  // namespace taskpool::proto
