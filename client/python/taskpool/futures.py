"""Futures of jobs, and the thread their callbacks run on."""

import concurrent.futures
import functools
import logging
import queue
import threading

from .errors import JobCancelled, TaskpoolError, job_error

_log = logging.getLogger("taskpool")


class CallbackThread:
    """Runs callbacks one after another on a thread of its own, as
    multiprocessing.Pool runs them on its result handler thread. They never run
    on the reader thread: a callback that called the client there would wait
    for a reply that only that thread could read. An exception in a callback is
    logged (logger "taskpool") and the next one runs. After stop(), a callback
    runs at once on the thread that hands it in."""

    def __init__(self):
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()  # no callback is queued after the stop mark
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="taskpool-callbacks", daemon=True)
        self._thread.start()

    def submit(self, fn, *args):
        with self._lock:
            if not self._stopped:
                self._queue.put((fn, args))
                return
        _call(fn, args)

    def stop(self):
        """Runs the callbacks handed in so far, then ends the thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self):
        while True:
            item = self._queue.get()
            if item is None:
                return
            _call(*item)


def _call(fn, args):
    try:
        fn(*args)
    except Exception:
        _log.exception("exception in callback %r", fn)


class Future(concurrent.futures.Future):
    """The outcome of one job, as a concurrent.futures.Future: result() returns
    the job's result and raises JobFailed where the job failed (JobCancelled,
    also a concurrent.futures.CancelledError, where it was cancelled). It works
    with concurrent.futures.wait() and as_completed().

    Unlike concurrent.futures: callbacks added with add_done_callback() run on
    the client's callback thread, never on the thread that adds them; cancel()
    cancels the job on the daemon, running or not; running() stays False (the
    client does not follow job starts). `job_id` is the job's id, `job` the job
    as last seen: as the daemon accepted it, then as it finished."""

    def __init__(self, client, callback=None, error_callback=None):
        super().__init__()
        self.job_id = None
        self.job = None
        self._client = client
        self._callback = callback
        self._error_callback = error_callback

    def add_done_callback(self, fn):
        """Calls fn(future) on the client's callback thread once the job has
        finished (at once, if it has)."""
        super().add_done_callback(functools.partial(self._client._callbacks.submit, fn))

    def cancel(self):
        """Cancels the job on the daemon. True if it did (the future then holds
        JobCancelled); False if the job had already finished."""
        if self.done():
            return False
        try:
            job = self._client.cancel(self.job_id)
        except TaskpoolError as e:
            if e.code == "not_cancellable":
                return False
            raise
        self._client._job_finished(job)
        return True

    def cancelled(self):
        return self.done() and isinstance(self.exception(), JobCancelled)

    # -- for the client --------------------------------------------------------

    def _accepted(self, job):
        self.job_id = job["id"]
        self.job = job

    def _when_done(self, fn):
        """fn(future) runs on the thread that settles the future (the reader's):
        for the client's own bookkeeping, which must be quick."""
        super().add_done_callback(fn)

    def _finish(self, job=None, error=None):
        """Settles the future with its finished job, or with `error` when the
        connection went while the job was pending. Callbacks given to
        apply_async run first, on the callback thread, and the future is done
        only after them: as with multiprocessing's AsyncResult, result()
        returns once the callback has run."""
        if job is not None:
            self.job = job
            if job.get("state") != "succeeded":
                error = job_error(job)
        if self._callback is None and self._error_callback is None:
            self._settle(error)
        else:
            self._client._callbacks.submit(self._run_callbacks, error)

    def _run_callbacks(self, error):
        try:
            if error is None:
                if self._callback is not None:
                    self._callback(self.job.get("result"))
            elif self._error_callback is not None:
                self._error_callback(error)
        finally:
            self._settle(error)

    def _settle(self, error):
        if error is None:
            self.set_result(self.job.get("result"))
        else:
            self.set_exception(error)
