#pragma once

#include "taskpool/client.hpp"

namespace taskpool::cli {

/// The exit codes of `taskpool` (DESIGN.md section 5). Nothing else returns a number
/// from main.
enum ExitCode : int {
    exit_done = 0,
    exit_job_failed = 1,    // the job failed or was cancelled; or the daemon refused
    exit_usage = 2,         // bad command line, or a request the daemon calls invalid
    exit_connection = 3,    // cannot connect, refused, or not the protocol
    exit_wait_ran_out = 4,  // the job had not finished when the wait ran out
};

inline int exit_code_for(const ClientError& e) {
    if (e.kind != ClientError::Kind::request || !e.code) {
        return exit_connection;
    }
    switch (*e.code) {
        case proto::ErrorCode::bad_request:
        case proto::ErrorCode::unknown_op:
        case proto::ErrorCode::no_such_task:
            return exit_usage;
        case proto::ErrorCode::unauthorized:
        case proto::ErrorCode::too_many_connections:
        case proto::ErrorCode::message_too_large:
            return exit_connection;
        default:
            return exit_job_failed;
    }
}

inline int exit_code_for(const proto::Job& job) {
    switch (job.state) {
        case proto::JobState::succeeded:
            return exit_done;
        case proto::JobState::failed:
        case proto::JobState::cancelled:
            return exit_job_failed;
        default:
            return exit_wait_ran_out;
    }
}

}  // namespace taskpool::cli
