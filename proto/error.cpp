#include "error.hpp"

#include <array>
#include <utility>

namespace taskpool::proto {
namespace {

constexpr std::array error_names{
    std::pair{ErrorCode::bad_request, std::string_view{"bad_request"}},
    std::pair{ErrorCode::unknown_op, std::string_view{"unknown_op"}},
    std::pair{ErrorCode::unauthorized, std::string_view{"unauthorized"}},
    std::pair{ErrorCode::forbidden, std::string_view{"forbidden"}},
    std::pair{ErrorCode::no_such_task, std::string_view{"no_such_task"}},
    std::pair{ErrorCode::no_such_job, std::string_view{"no_such_job"}},
    std::pair{ErrorCode::no_such_schedule, std::string_view{"no_such_schedule"}},
    std::pair{ErrorCode::queue_full, std::string_view{"queue_full"}},
    std::pair{ErrorCode::message_too_large, std::string_view{"message_too_large"}},
    std::pair{ErrorCode::too_many_connections, std::string_view{"too_many_connections"}},
    std::pair{ErrorCode::unavailable, std::string_view{"unavailable"}},
    std::pair{ErrorCode::not_cancellable, std::string_view{"not_cancellable"}},
    std::pair{ErrorCode::not_retryable, std::string_view{"not_retryable"}},
    std::pair{ErrorCode::dependency_failed, std::string_view{"dependency_failed"}},
    std::pair{ErrorCode::shutting_down, std::string_view{"shutting_down"}},
    std::pair{ErrorCode::internal, std::string_view{"internal"}},
    std::pair{ErrorCode::not_found, std::string_view{"not_found"}},
    std::pair{ErrorCode::not_assigned, std::string_view{"not_assigned"}},
};

constexpr std::array job_error_names{
    std::pair{JobErrorCode::task_error, std::string_view{"task_error"}},
    std::pair{JobErrorCode::exit_status, std::string_view{"exit_status"}},
    std::pair{JobErrorCode::timeout, std::string_view{"timeout"}},
    std::pair{JobErrorCode::worker_crashed, std::string_view{"worker_crashed"}},
    std::pair{JobErrorCode::cancelled, std::string_view{"cancelled"}},
    std::pair{JobErrorCode::shutdown, std::string_view{"shutdown"}},
    std::pair{JobErrorCode::lost, std::string_view{"lost"}},
    std::pair{JobErrorCode::memory_limit, std::string_view{"memory_limit"}},
    std::pair{JobErrorCode::worker_lost, std::string_view{"worker_lost"}},
    std::pair{JobErrorCode::dependency_failed, std::string_view{"dependency_failed"}},
};

template <class Table, class Code>
std::string_view name_of(const Table& table, Code code) {
    for (const auto& [c, name] : table) {
        if (c == code) {
            return name;
        }
    }
    return "internal";
}

template <class Code, class Table>
std::optional<Code> code_of(const Table& table, std::string_view s) {
    for (const auto& [c, name] : table) {
        if (name == s) {
            return c;
        }
    }
    return std::nullopt;
}

}  // namespace

std::string_view to_string(ErrorCode code) {
    return name_of(error_names, code);
}
std::string_view to_string(JobErrorCode code) {
    return name_of(job_error_names, code);
}

std::optional<ErrorCode> error_code_from_string(std::string_view s) {
    return code_of<ErrorCode>(error_names, s);
}

std::optional<JobErrorCode> job_error_code_from_string(std::string_view s) {
    return code_of<JobErrorCode>(job_error_names, s);
}

}  // namespace taskpool::proto
