#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskpool::cli {

/// How a command ended, and what it wrote.
struct CommandRun {
    int wait_status = 0;
    std::string out;
    std::string err;
    bool truncated = false;            // more output than max_output, cut
    bool stopped = false;              // `stop` asked, and it was signalled
    std::optional<std::string> error;  // it could not be started at all
};

/// Runs `argv` (searched in PATH) in a process group of its own, with `input` on
/// its stdin and `env` ("NAME=value") added to the environment, collecting at
/// most `max_output` bytes of stdout and of stderr. `stop` is asked every 100 ms:
/// once true, the group gets SIGTERM, and SIGKILL two seconds later. Its fd 3 is
/// a pipe: what it writes there goes to `on_progress` as it is read.
CommandRun run_command(const std::vector<std::string>& argv, const std::string& input,
                       const std::vector<std::string>& env, std::size_t max_output,
                       const std::function<bool()>& stop,
                       const std::function<void(std::string_view written)>& on_progress);

}  // namespace taskpool::cli
