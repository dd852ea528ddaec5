#include "open_file_limit.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace taskpool::daemon::net {

void raise_open_file_limit(std::size_t wanted) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        return;
    }
    auto target = static_cast<rlim_t>(wanted);
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < target) {
        spdlog::warn(
            "open files are limited to {} (ulimit -Hn), under the {} that "
            "limits.max_connections needs; connections past it wait",
            limit.rlim_max, wanted);
        target = limit.rlim_max;
    }
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < target) {
        limit.rlim_cur = target;
        if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
            spdlog::warn("cannot raise the open files limit to {}: {}", target,
                         std::strerror(errno));
        }
    }
}

}  // namespace taskpool::daemon::net
