"""The exceptions of the client. Each carries a `code`: the protocol's error
code for a refused request, the job's error code for a failed job."""

import concurrent.futures


class TaskpoolError(Exception):
    """A request the daemon refused: `code` is the protocol's error code
    (bad_request, no_such_job, queue_full, ...), `message` says why."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


class JobFailed(TaskpoolError):
    """A job that ended failed or cancelled. `code` is the job's error code
    (task_error, exit_status, timeout, worker_crashed, cancelled, shutdown,
    ...), `job` the finished job as the daemon sent it."""

    def __init__(self, job):
        error = job.get("error") or {}
        super().__init__(error.get("code", job.get("state")), error.get("message", ""))
        self.job = job


class JobCancelled(JobFailed, concurrent.futures.CancelledError):
    """A job that ended cancelled (by cancel(), by a shutdown, or because a job
    it depended on failed). Also a concurrent.futures.CancelledError, so code
    written for concurrent.futures sees it as it expects."""


class ConnectionClosed(TaskpoolError, ConnectionError):
    """The connection is gone: close() was called, the daemon closed it, or the
    network failed. `code` is "connection_closed" unless the daemon said why
    before it closed (too_many_connections, message_too_large, unauthorized)."""


def job_error(job):
    """The exception that a finished job which did not succeed stands for."""
    return JobCancelled(job) if job.get("state") == "cancelled" else JobFailed(job)
