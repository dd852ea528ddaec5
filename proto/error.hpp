#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskpool::proto {

/// Why a request failed (PROTOCOL.md section 7). Enumerators are spelled as on the wire.
enum class ErrorCode {
    bad_request,
    unknown_op,
    unauthorized,
    forbidden,  // the token may not use this op
    no_such_task,
    no_such_job,
    no_such_schedule,
    queue_full,
    message_too_large,
    too_many_connections,
    unavailable,
    not_cancellable,
    not_retryable,      // `retry` of a job that has not failed or been cancelled
    dependency_failed,  // in a batch's then_error: not every job of the batch succeeded
    shutting_down,
    internal,
    not_found,     // HTTP only: no such path
    not_assigned,  // a remote worker reported on a job it does not hold
};

/// Why a job failed or was cancelled (PROTOCOL.md section 4); carried inside a job.
enum class JobErrorCode {
    task_error,
    exit_status,
    timeout,
    worker_crashed,
    cancelled,
    shutdown,
    lost,
    memory_limit,
    worker_lost,        // the remote worker holding it disconnected or fell silent
    dependency_failed,  // a job named in its `after` failed or was cancelled
};

std::string_view to_string(ErrorCode code);
std::string_view to_string(JobErrorCode code);
std::optional<ErrorCode> error_code_from_string(std::string_view s);
std::optional<JobErrorCode> job_error_code_from_string(std::string_view s);

/// A request failure: a code for programs and a message a person can act on.
struct Error {
    ErrorCode code;
    std::string message;

    friend bool operator==(const Error&, const Error&) = default;
};

/// A job failure, as stored in the job's `error` field.
struct JobError {
    JobErrorCode code;
    std::string message;

    friend bool operator==(const JobError&, const JobError&) = default;
};

inline Error bad_request(std::string message) {
    return {ErrorCode::bad_request, std::move(message)};
}

}  // namespace taskpool::proto
