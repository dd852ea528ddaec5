"""A Worker's side of one job: what its task function is told (a JobContext),
and how the function's outcome becomes the report to the daemon. What runs in
a pool process is here, at a module's top level, where pickle finds it."""

import collections
import json
import os
import pickle
import signal
import struct
import threading
import time
import traceback

PROGRESS_INTERVAL_S = 0.05  # at most 20 progress reports a second for each job
# Of a failure's message and traceback: every report must fit in one line the
# daemon takes (limits.max_message_bytes), whatever the exception says.
TEXT_LIMIT = 8192
_NOTHING = object()

Task = collections.namedtuple("Task", "function description takes_job")


class ResultTooLarge(ValueError):
    """A result (or a progress value) whose JSON is over the worker's max_result_bytes."""


class JobContext:
    """The job a task function is running, passed to one that takes a second
    parameter. `id`, `task`, `attempt` (1, then 2 and on where the job is
    retried) and `timeout_s` (None without a timeout) are the job's.

    progress(value) reports how far the job has come. `cancelled` turns True
    once the daemon has ended the job (cancelled, or timed out) or the
    connection it came on is lost, since its outcome then goes nowhere: a
    function may check it, or wait_cancelled(), to stop early. Safe to use
    from any thread."""

    def __init__(self, job, send_progress, cancelled, max_bytes):
        self.id = job["id"]
        self.task = job["task"]
        self.attempt = job.get("attempts", 1)
        self.timeout_s = job.get("timeout_s")
        self._cancelled = cancelled  # a threading.Event, or a SharedFlag for a pool process
        self._max_bytes = max_bytes
        self._progress = _Throttle(send_progress)

    @property
    def cancelled(self):
        return self._cancelled.is_set()

    def wait_cancelled(self, timeout=None):
        """Waits until the job is cancelled: True, or False once `timeout` seconds have passed."""
        return self._cancelled.wait(timeout)

    def progress(self, value):
        """Reports progress: any JSON value, which the daemon keeps on the job
        and pushes to its watchers as job.progress. At most 20 a second go out:
        of values that come faster, the last goes when its turn comes, and the
        last of all before the job's outcome. A value that is not JSON raises
        TypeError or ValueError here, as does one over max_result_bytes."""
        self._progress.offer(checked(value, self._max_bytes, "progress"))

    # -- for the worker --------------------------------------------------------

    def _forward(self, value):
        """Passes on the progress a pool process gave (already checked there)."""
        self._progress.offer(value)

    def _end(self):
        """Sends the progress still waiting for its turn; none goes after this."""
        self._progress.close()


class _InProcess(JobContext):
    """A JobContext in a pool process. Progress goes to the worker over the
    process's pipe, ahead of the job's outcome on the same pipe."""

    def __init__(self, job, send, cancelled, max_bytes):
        super().__init__(job, lambda value: send(("progress", value)), cancelled, max_bytes)


class SharedFlag:
    """A job's `cancelled` as a byte of memory that the worker and its pool
    processes share: the worker sets it, a process reads it without asking
    anyone. `slot` is the job's byte."""

    def __init__(self, flags, slot):
        self.flags = flags
        self.slot = slot

    def set(self):
        self.flags[self.slot] = 1

    def is_set(self):
        return self.flags[self.slot] != 0

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True


class _Throttle:
    """Passes values on at most once an interval: of those that come faster,
    the last, once the interval is up (a timer sends it)."""

    def __init__(self, send):
        self._send = send
        self._lock = threading.Lock()  # values go out one at a time, in order
        self._next = 0.0  # when the next value may go
        self._pending = _NOTHING  # a value waiting for its turn
        self._closed = False

    def offer(self, value):
        with self._lock:
            if self._closed:
                return
            if self._pending is _NOTHING:
                wait = self._next - time.monotonic()
                if wait <= 0:
                    self._emit(value)
                    return
                timer = threading.Timer(wait, self._flush)
                timer.daemon = True
                timer.start()
            self._pending = value

    def close(self):
        """Sends the value waiting, if any; drops any offered after."""
        with self._lock:
            if self._pending is not _NOTHING:
                self._emit(self._pending)
            self._closed = True

    def _flush(self):
        with self._lock:
            if not self._closed and self._pending is not _NOTHING:
                self._emit(self._pending)

    def _emit(self, value):
        self._pending = _NOTHING
        self._next = time.monotonic() + PROGRESS_INTERVAL_S
        self._send(value)


def checked(value, limit, what):
    """`value`, once sure that it goes to the daemon as JSON of at most `limit`
    bytes. Raises TypeError or ValueError (NaN is no JSON) if not, and
    ResultTooLarge where it is over."""
    size = len(json.dumps(value, separators=(",", ":"), allow_nan=False))  # ASCII: bytes
    if size > limit:
        raise ResultTooLarge("%s too large: %d bytes over the limit %d" % (what, size, limit))
    return value


def run_task(task, args, job, max_bytes):
    """Runs a task function on a job's args: the report of how it went, as
    (op, fields) of job.done or job.fail."""
    try:
        result = task.function(args, job) if task.takes_job else task.function(args)
    except BaseException as e:  # sys.exit() in a task fails the job, not the worker
        return failure(e)
    try:
        checked(result, max_bytes, "result")
    except ResultTooLarge as e:
        return failure(e, with_traceback=False)
    except (TypeError, ValueError) as e:
        return failure(type(e)("the result is not JSON: %s" % e), with_traceback=False)
    return "job.done", {"result": result}


def failure(error, with_traceback=True):
    """The job.fail report of an exception: its class's name and message, and
    its traceback in details, each cut to TEXT_LIMIT characters."""
    fields = {"type": type(error).__name__, "message": _clip(str(error), tail=False)}
    if with_traceback:
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        fields["details"] = {"traceback": _clip("".join(lines), tail=True)}
    return "job.fail", {"error": fields}


def serve_in_process(connection, tasks, flags, max_bytes):
    """A worker's pool process: runs the jobs that come over `connection`, one
    at a time, until it closes or brings None. A job is (the name of its task
    in `tasks`, args, the job's fields, its slot in `flags`); what goes back is
    its progress, ("progress", value), then ("done", report), after a first
    ("ready", None). Messages are frames (Frames): a read takes every job
    waiting, a write is one message."""
    ignore_signals()
    fd = connection.fileno()
    lock = threading.Lock()  # progress may come from any of the task's threads

    def send(message):
        with lock:
            write_all(fd, frame(message))

    send(("ready", None))  # a process that cannot start is given no job to fail
    frames = Frames()
    jobs = collections.deque()
    while True:
        while not jobs:
            data = os.read(fd, READ_BYTES)
            if not data:
                return
            jobs.extend(frames.feed(data))
        job = jobs.popleft()
        if job is None:
            return
        name, args, fields, slot = job
        # slot -1: more jobs than slots, and this one cannot be told it is cancelled
        cancelled = SharedFlag(flags, slot) if slot >= 0 else threading.Event()
        context = _InProcess(fields, send, cancelled, max_bytes)
        report = run_task(tasks[name], args, context, max_bytes)
        context._progress.close()  # the progress held back goes first
        send(("done", report))


# -- a pool process's pipe -----------------------------------------------------

READ_BYTES = 64 * 1024
_LENGTH = struct.Struct("!I")


def frame(message):
    """A message as it goes over a pool process's pipe: its pickle's length, then the pickle."""
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class Frames:
    """The messages in what comes over a pipe, as its bytes arrive."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data):
        """The messages that `data` completes."""
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        with memoryview(buffer) as view:  # released before the buffer shrinks
            while len(view) - start >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(view, start)
                end = start + _LENGTH.size + size
                if end > len(view):
                    break
                messages.append(pickle.loads(view[start + _LENGTH.size:end]))
                start = end
        del buffer[:start]
        return messages


def write_all(fd, data):
    """Writes all of `data` to a blocking descriptor."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def ignore_signals():
    """For a worker's pool processes: SIGINT from the terminal, or
    SIGTERM from a service manager, goes to the whole process group, and the
    worker alone decides what it means (drain, then stop)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _clip(text, tail):
    """`text` cut to TEXT_LIMIT characters, keeping its end (a traceback's
    innermost frames) or its start."""
    if len(text) <= TEXT_LIMIT:
        return text
    cut = "[%d characters cut]" % (len(text) - TEXT_LIMIT)
    return cut + "\n" + text[-TEXT_LIMIT:] if tail else text[:TEXT_LIMIT] + cut
