"""A remote worker: a connection to taskpoold that registers tasks, is pushed
their jobs, runs them on threads or in processes, and reports how they went.

One thread owns the worker's state: the loop of run(), which waits on one
selector. Everything else tells it what happened through one inbox, whose pipe
the selector watches: the reader thread the events and the end of the
connection, job threads each job's outcome, stop() and signal handlers that
they were called. A process pool's pipes are in the same selector, so their
outcomes are read where they are reported, without a hand-off between
threads. So the jobs held, the connection and its replacement after a loss,
and a drain are never raced.
"""

import collections
import contextlib
import functools
import inspect
import logging
import math
import multiprocessing
import os
import pickle
import queue
import random
import selectors
import signal
import socket
import threading
import time
import weakref

from .client import DEFAULT_ADDRESS, Client, _parse_address, _ssl_context
from .context import (READ_BYTES, Frames, JobContext, SharedFlag, Task, failure, frame,
                      run_task, serve_in_process, write_all)
from .errors import ConnectionClosed, TaskpoolError

_log = logging.getLogger("taskpool.worker")

# The daemon's limits.max_message_bytes by default, less room for the rest of the report's line.
MAX_RESULT_BYTES = 1024 * 1024 - 1024
# Refusals of hello or worker.register that trying again would not change
# (unknown_op: a daemon from before remote workers).
_FATAL = ("unauthorized", "forbidden", "bad_request", "unknown_op")
_BACKOFF_FIRST_S = 0.1
_BACKOFF_MAX_S = 5.0
_SILENT_HEARTBEATS = 3  # as the daemon: a peer silent this many heartbeats is gone
# A signal that lands on another thread does not wake run()'s: its handler
# runs only once that thread runs Python code again. So it never waits longer.
_WAKE_S = 1.0
# Jobs of a process pool that can be told they are cancelled at once: those held
# and those of lost connections still running.
_FLAG_SLOTS = 4096
# How much may wait unread in a busy pool process's pipe (a socketpair, whose
# buffer holds more): more could block the loop's write until that process's job
# ends.
_PIPE_ROOM = 32 * 1024


class Worker:
    """A remote worker of taskpoold: register its tasks with task(), then
    run() serves their jobs until stop(), SIGTERM or SIGINT.

    The connection is as a Client's: `address`, `token`, `tls`, `ca`, `cert`,
    `key` and `ssl_context` mean the same, with the same environment variables.
    `timeout` bounds connecting and each reply while registering. `name` is
    how the daemon lists the worker (stats, and each job it runs): host/pid
    unless given. A result whose JSON is over `max_result_bytes` fails its job
    with ResultTooLarge instead of going out, since a line over the daemon's
    limits.max_message_bytes would have it close the connection.

    A lost connection is made again, with back-off, and the tasks registered
    again; jobs that were running on it then end unreported (the daemon has
    given them to another worker, or failed them), their contexts cancelled."""

    def __init__(self, address=None, token=None, *, tls=False, ca=None, cert=None, key=None,
                 ssl_context=None, name=None, timeout=10, max_result_bytes=MAX_RESULT_BYTES):
        self.address = address or os.environ.get("TASKPOOL_ADDR") or DEFAULT_ADDRESS
        scheme, _, _ = _parse_address(self.address)
        self._ssl_context = _ssl_context(scheme, tls, ca, cert, key, ssl_context)
        self._token = token
        self.name = name or "%s/%d" % (socket.gethostname(), os.getpid())
        self.timeout = timeout
        self.max_result_bytes = max_result_bytes
        self.id = None  # the daemon's id for this worker, while registered
        self._tasks = {}  # name -> Task
        self._control = _Control()  # what run()'s loop is told: see _Loop
        self._registered = threading.Event()

    def task(self, name=None, description=None):
        """A decorator that makes a function the task `name` (the function's
        own name unless given; `@worker.task` alone will do). The function is
        called with the job's args, and with a JobContext too if it takes a
        second parameter; what it returns, JSON, is the job's result, and an
        exception fails the job."""
        if callable(name):  # @worker.task, without parentheses
            return self.task()(name)

        def register(function):
            self._tasks[name or function.__name__] = Task(function, description,
                                                          _takes_job(function))
            return function
        return register

    def run(self, concurrency=None, processes=None, drain_timeout=30, prefetch=1):
        """Serves jobs until stop(), or SIGTERM or SIGINT where run() is on the
        main thread. `concurrency` threads (1 unless given) run the functions,
        or `processes` processes for functions that need a CPU each, which must
        then be defined at a module's top level. The daemon sends no more jobs
        at once than that times `prefetch`: with more than 1 (Celery's
        worker_prefetch_multiplier), a thread or process that ends a short job
        finds the next one here instead of waiting for the daemon, but a job
        counts as running from when it is sent here.

        A signal drains as stop(drain=True) does; a second one stops at once.
        A drain that takes longer than `drain_timeout` seconds stops at once
        too. Raises TaskpoolError where the daemon refuses the worker
        (unauthorized, forbidden, bad_request: a builtin task's name, say, or
        unknown_op); anything else going wrong with the connection, it
        connects again."""
        if not self._tasks:
            raise ValueError("no tasks: make some with @worker.task() first")
        if not isinstance(prefetch, int) or prefetch < 1:
            raise ValueError("prefetch must be a whole number from 1")
        if processes is not None and concurrency is not None:
            raise ValueError("give concurrency (threads) or processes, not both")
        if processes is not None:
            _check_picklable(self._tasks)
        with selectors.DefaultSelector() as selector:
            loop = _Loop(self, selector, drain_timeout)
            if processes is None:
                loop.pool = _Threads(concurrency or 1,
                                     functools.partial(_put, self._control, "finished"),
                                     self.max_result_bytes)
            else:  # read on the loop's thread: it reports to the loop directly
                loop.pool = _Processes(processes, self._tasks, loop._on_finished,
                                       loop._on_progress, self.max_result_bytes, selector)
            loop.pool.capacity *= prefetch
            abandoned = True
            try:
                with _signals_to(self._control):
                    abandoned = loop.run()
            finally:
                loop.pool.close(abandon=abandoned)

    def stop(self, drain=True):
        """Has run() return: with `drain`, once the jobs held have finished and
        been reported (the daemon sends no more meanwhile); else at once,
        leaving them to the daemon, which gives them to another worker where
        they have retries left and fails them where not. Returns at once; the
        thread in run() goes on until then."""
        self._control.put(("stop", drain))

    def wait_registered(self, timeout=None):
        """Waits until run() has registered the tasks with taskpoold: True, or
        False once `timeout` seconds have passed."""
        return self._registered.wait(timeout)


class _Link(Client):
    """The worker's connection: a pumped Client, read by the loop when its
    socket is readable, whose events and end go to the loop as they are read."""

    _PUMPED = True

    def __init__(self, worker, loop):
        self._loop = loop
        self.answered_at = time.monotonic()  # when the daemon last answered a request
        super().__init__(worker.address, worker._token, worker.timeout, "taskpool-worker",
                         ssl_context=worker._ssl_context)

    def fileno(self):
        return self._conn.fileno()

    def send(self, op, then=None, **fields):
        """Sends a request without waiting for its reply; then() runs once it
        has come, on the loop's thread."""
        self._conn.send(dict(fields, op=op), functools.partial(self._answered, op, then))

    def _answered(self, op, then, reply):
        if isinstance(reply, ConnectionClosed):
            return  # the loop hears of that from _on_close
        self.answered_at = time.monotonic()
        error = reply.get("error") or {}
        # not_assigned: the job has already ended on the daemon (cancelled, timed
        # out), and the report is the one it waits for to free the slot.
        if not reply.get("ok") and error.get("code") != "not_assigned":
            _log.warning("taskpoold refused %s: %s: %s", op, error.get("code"),
                         error.get("message"))
        if then is not None:
            then()

    def _on_event(self, event):
        self._loop._on_event(self, event)

    def _on_close(self, error):
        self._loop._on_closed(self, error)


class _Loop:
    """One run() of a worker. Its inbox brings (kind, ...) messages: ("quiet",
    link), ("finished", context, report) from job threads,
    ("stop", drain), ("signal", signum). The connection and a process pool,
    read on this thread, call _on_event, _on_closed, _on_finished and
    _on_progress themselves. A message about a link or a job no longer current
    is stale, and dropped."""

    def __init__(self, worker, selector, drain_timeout):
        self.worker = worker
        self.selector = selector
        self.pool = None  # _Threads or _Processes, set before run()
        self.drain_timeout = drain_timeout
        self.link = None  # the connection, while there is one
        self.heartbeat = None  # seconds, as the daemon asked at registration
        self.held = {}  # job id -> JobContext: the jobs of the connection, running
        self.lost = set()  # JobContexts of connections lost, still running
        self.attempts = 0  # to connect, since the last connection
        self.connect_at = time.monotonic()
        self.ping_at = None
        self.stop_by = None  # the drain's deadline, once a drain has begun
        self.quiet = False  # the daemon has answered worker.quiet: it sends no more jobs
        self.done = False

    def run(self):
        """Serves until done; returns whether jobs are left running."""
        control = self.worker._control
        self.selector.register(control.fd, selectors.EVENT_READ)
        try:
            while not self.done:
                self.pool.flush()  # the jobs of the last round, and of a registration
                timeout = min(self._deadline() - time.monotonic(), _WAKE_S)
                ready = self.selector.select(max(0.0, timeout))
                # What this round reports goes out in one write.
                held = self.link
                if held is not None:
                    held._conn.hold()
                try:
                    self._handle(ready, control)
                finally:
                    if held is not None:
                        held._conn.let_go()
                if not self.done:  # stopped at once: not even a connection to make
                    self._tick()
        finally:
            self.selector.unregister(control.fd)
            self.worker.id = None
            self.worker._registered.clear()
            if self.link is not None:
                link, self.link = self.link, None  # its end is no news to anyone
                self._forget(link)
        return bool(self.held or self.lost)

    def _handle(self, ready, control):
        """What the selector found ready: the connection, a pool process, the inbox."""
        for key, _ in ready:
            if isinstance(key.data, _Link):
                if key.data is self.link:
                    key.data._conn.pump()
            elif key.data is not None:
                self.pool.read(key.data)
            else:
                for kind, *details in control.take():
                    getattr(self, "_on_" + kind)(*details)
                    if self.done:  # stopped at once: the rest no longer matters
                        return
            if self.done:
                return

    def _deadline(self):
        """The next time _tick() has something to do."""
        times = [math.inf if self.stop_by is None else self.stop_by, self.pool.deadline()]
        if self.link is not None:
            times += [self.ping_at, self.link.answered_at + _SILENT_HEARTBEATS * self.heartbeat]
        elif self.stop_by is None:
            times.append(self.connect_at)
        return min(times)

    def _tick(self):
        now = time.monotonic()
        self.pool.tick(now)
        if self.stop_by is not None:
            if not self.held and (self.link is None or self.quiet):
                self.done = True
                return
            if now >= self.stop_by:
                _log.warning("drain_timeout (%s s) is up: stopping at once, leaving jobs to "
                             "taskpoold: %d", self.drain_timeout, len(self.held))
                self.done = True
                return
        if self.link is None:
            if self.stop_by is None and now >= self.connect_at:
                self._connect()
        elif now - self.link.answered_at >= _SILENT_HEARTBEATS * self.heartbeat:
            _log.warning("taskpoold has answered nothing for %.1f s: taking the connection for "
                         "lost", now - self.link.answered_at)
            self.link.close()  # its _on_close tells the loop
        elif now >= self.ping_at:
            # The daemon drops a worker silent for three heartbeats: this keeps
            # one that is idle, or busy with long jobs, from seeming so.
            self.link.send("ping")
            self.ping_at = now + self.heartbeat / 2

    def _connect(self):
        worker = self.worker
        self.attempts += 1
        try:
            link = _Link(worker, self)
            # Current already: a job may be assigned in the read that brings the reply.
            self.link = link
            try:
                tasks = [{"name": name, "description": task.description} if task.description
                         else name for name, task in worker._tasks.items()]
                reply = link.call("worker.register", tasks=tasks, capacity=self.pool.capacity,
                                  name=worker.name)
            except BaseException:
                self.link = None
                link.close()
                raise
            if self.link is not link:  # closed in the read that brought the reply
                return
        except (OSError, TaskpoolError) as e:
            if isinstance(e, TaskpoolError) and e.code in _FATAL:
                raise
            # Jittered, so that the workers a restart cut off do not all come back at once.
            delay = _backoff(self.attempts) * random.uniform(0.5, 1.0)
            _log.warning("cannot connect to taskpoold at %s (attempt %d): %s; trying again in "
                         "%.2f s", worker.address, self.attempts, e, delay)
            self.connect_at = time.monotonic() + delay
            return
        self.selector.register(link.fileno(), selectors.EVENT_READ, link)
        self.heartbeat = reply["heartbeat_s"]
        link.answered_at = time.monotonic()
        self.ping_at = link.answered_at + self.heartbeat / 2
        self.attempts = 0
        worker.id = reply["worker"]
        worker._registered.set()
        _log.info("registered with taskpoold at %s as %s (%s): tasks %s, capacity %d",
                  worker.address, worker.id, worker.name, ", ".join(worker._tasks),
                  self.pool.capacity)

    # -- the messages ----------------------------------------------------------

    def _on_event(self, link, event):
        if link is not self.link:
            return
        if event.get("event") == "job.assign":
            self._start(event["job"])
        elif event.get("event") == "job.cancel":
            job = self.held.get(event["job"])
            if job is not None:
                job._cancelled.set()

    def _start(self, job):
        link = self.link
        job_id = job["id"]
        task = self.worker._tasks.get(job["task"])
        context = JobContext(
            job, lambda value: link.send("job.progress", job=job_id, progress=value),
            threading.Event() if task is None else self.pool.event(),
            self.worker.max_result_bytes)
        self.held[job_id] = context
        if task is None:  # not one registered here: the daemon's mistake, but say so
            error = LookupError("this worker has no task %r" % job["task"])
            self._on_finished(context, failure(error, with_traceback=False))
        else:
            self.pool.run(task, job.get("args"), context)

    def _on_finished(self, job, report):
        if self.held.get(job.id) is job:
            del self.held[job.id]
            job._end()
            op, fields = report
            if op == "job.fail":
                # The daemon keeps the message, not the details: the traceback is told here.
                error = fields["error"]
                _log.warning("job %s (%s) failed: %s: %s\n%s", job.id, job.task, error["type"],
                             error["message"], error.get("details", {}).get("traceback", ""))
            self.link.send(op, job=job.id, **fields)
        elif job in self.lost:
            self.lost.discard(job)
            _log.warning("job %s ended after the connection it came on was lost: its outcome "
                         "is dropped", job.id)

    def _on_progress(self, job_id, attempt, value):
        job = self.held.get(job_id)
        if job is not None and job.attempt == attempt:
            job._forward(value)

    def _on_closed(self, link, error):
        if link is not self.link:
            return
        self.link = None
        self._forget(link)
        self.worker.id = None
        self.worker._registered.clear()
        for job in self.held.values():
            job._cancelled.set()  # its outcome can go nowhere: it may as well stop
        self.lost.update(self.held.values())
        running = len(self.held)
        self.held = {}
        if self.stop_by is not None:
            _log.warning("lost the connection to taskpoold while draining: %s", error)
            return
        _log.warning("lost the connection to taskpoold at %s: %s; connecting again%s",
                     self.worker.address, error,
                     " (jobs that were running, left to taskpoold: %d)" % running if running
                     else "")
        self.connect_at = time.monotonic() + _BACKOFF_FIRST_S * random.uniform(0.5, 1.0)

    def _forget(self, link):
        """Out of the selector, then closed (its end is no longer news)."""
        with contextlib.suppress(KeyError):
            self.selector.unregister(link.fileno())
        link.close()

    def _on_quiet(self, link):
        if link is self.link:
            self.quiet = True

    def _on_stop(self, drain):
        if not drain:
            if self.held:
                _log.warning("stopping at once, leaving jobs to taskpoold: %d", len(self.held))
            self.done = True
        elif self.stop_by is None:
            self.stop_by = time.monotonic() + self.drain_timeout
            if self.link is not None:
                link = self.link
                # Until the daemon has read this, it may still send a job.
                link.send("worker.quiet", then=functools.partial(_put, self.worker._control,
                                                                 "quiet", link))

    def _on_signal(self, signum):
        name = signal.Signals(signum).name
        if self.stop_by is None:
            _log.warning("%s: draining (jobs running: %d); another signal stops at once", name,
                         len(self.held))
            self._on_stop(drain=True)
        else:
            _log.warning("%s again: stopping at once", name)
            self._on_stop(drain=False)


class _Threads:
    """Runs task functions on threads of its own: daemon threads, since a
    function that never returns must not keep the program from exiting once
    run() has given up on it (Python cannot stop a thread)."""

    def __init__(self, size, finished, max_bytes):
        self.capacity = size
        self._size = size
        self._finished = finished
        self._max_bytes = max_bytes
        self._work = queue.SimpleQueue()
        for n in range(size):
            threading.Thread(target=self._serve, name="taskpool-job-%d" % n, daemon=True).start()

    def event(self):
        return threading.Event()

    def run(self, task, args, job):
        self._work.put((task, args, job))

    def flush(self):
        pass  # the threads take their jobs from the queue at once

    def deadline(self):
        return math.inf

    def tick(self, now):
        pass

    def close(self, abandon):
        for _ in range(self._size):
            self._work.put(None)

    def _serve(self):
        while True:
            item = self._work.get()
            if item is None:
                return
            task, args, job = item
            self._finished(job, run_task(task, args, job, self._max_bytes))


class _Processes:
    """Runs task functions in processes of its own, spawned (a fork would copy
    the locks this process's threads hold, held). Each process has a pipe and
    runs the jobs sent on it one at a time, in order. A job is sent at once to
    the process that holds fewest: with no more jobs than processes (the
    daemon sends no more without prefetch) that is an idle one, and with
    prefetch a process finds its next job in its pipe instead of waiting for
    the worker to send it. The pipes are in the loop's selector, and all of
    this runs on the loop's thread: read() takes a process's progress and
    outcomes, and replaces a process that died, failing the job it ran with
    ProcessDied and sending the others it held to the rest. A job's
    `cancelled` is a byte of memory the processes share (SharedFlag), so
    reading it asks no one."""

    def __init__(self, size, tasks, finished, progress, max_bytes, selector):
        self.capacity = size
        self._tasks = tasks  # each process is given them once; a job names its task
        self._finished = finished
        self._progress = progress
        self._max_bytes = max_bytes
        self._selector = selector
        self._context = multiprocessing.get_context("spawn")
        # A slot for each job held, with room for those of lost connections still running.
        self._flags = self._context.RawArray("b", _FLAG_SLOTS)
        self._free_slots = list(range(_FLAG_SLOTS))
        self._waiting = collections.deque()  # _Sent not yet sent
        self._processes = [self._start_process() for _ in range(size)]
        self._starts = []  # when to start the processes that replace those that died
        self._failures = 0  # processes in a row that died before they finished a job

    def event(self):
        if not self._free_slots:  # more jobs than slots: this one cannot be told it is cancelled
            return threading.Event()
        slot = self._free_slots.pop()
        self._flags[slot] = 0
        return SharedFlag(self._flags, slot)

    def run(self, task, args, job):
        fields = {"id": job.id, "task": job.task, "attempts": job.attempt,
                  "timeout_s": job.timeout_s}
        slot = job._cancelled.slot if isinstance(job._cancelled, SharedFlag) else -1
        self._waiting.append(_Sent(job, frame((job.task, args, fields, slot))))
        self._send_waiting()

    def flush(self):
        """Writes what this round of the loop gave each process, a write each."""
        for p in self._processes:
            if p.outbox:
                with contextlib.suppress(OSError):  # it died: read() finds it so
                    write_all(p.fd, p.outbox)
                p.outbox.clear()

    def deadline(self):
        """When tick() has a process to start."""
        return min(self._starts, default=math.inf)

    def tick(self, now):
        due = [t for t in self._starts if t <= now]
        if due:
            self._starts = [t for t in self._starts if t > now]
            self._processes += [self._start_process() for _ in due]
            self._send_waiting()

    def _send_waiting(self):
        """Jobs waiting go to the process that holds fewest, as long as a write
        cannot block: an idle process reads at once, a busy one only once its
        job has ended, so what a busy one is sent must fit in its pipe."""
        ready = [p for p in self._processes if p.ready]
        while self._waiting and ready:
            sent = self._waiting[0]
            p = min(ready, key=_Process.holds)
            if p.jobs and p.queued + len(sent.data) > _PIPE_ROOM:
                return
            self._waiting.popleft()
            if p.jobs:
                p.queued += len(sent.data)
            p.jobs.append(sent)
            p.outbox += sent.data

    def read(self, p):
        """What `p` has sent: its progress and outcomes, or its end."""
        if p not in self._processes:
            return  # replaced in this round of the loop
        try:
            data = os.read(p.fd, READ_BYTES)
        except OSError:
            data = b""
        if not data:
            self._died(p)
            return
        for kind, value in p.frames.feed(data):
            if kind == "ready":
                p.ready = True
                self._send_waiting()
            elif kind == "progress":
                job = p.jobs[0].job
                self._progress(job.id, job.attempt, value)
            else:
                job = p.jobs.popleft().job
                p.ended += 1
                self._failures = 0
                if p.jobs:
                    p.queued -= len(p.jobs[0].data)  # begun now
                self._free_slot(job)
                self._send_waiting()
                self._finished(job, value)

    def close(self, abandon):
        self.flush()
        for p in self._processes:
            self._selector.unregister(p.fd)
            if abandon:
                p.process.kill()  # the jobs still running go
            else:
                with contextlib.suppress(OSError):
                    write_all(p.fd, frame(None))  # after the jobs it holds
        for p in self._processes:
            _join(p.process)
            p.connection.close()

    def _start_process(self):
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=serve_in_process,
                                        args=(theirs, self._tasks, self._flags, self._max_bytes),
                                        name="taskpool-process", daemon=True)
        process.start()
        theirs.close()
        p = _Process(process, ours)
        self._selector.register(p.fd, selectors.EVENT_READ, p)
        return p

    def _free_slot(self, job):
        """The job's byte of `cancelled` is free for another."""
        if isinstance(job._cancelled, SharedFlag):
            self._free_slots.append(job._cancelled.slot)

    def _died(self, p):
        """Fails the job `p` ran and sends the others it held to the rest, with
        a new process in its place: at once after one that had finished jobs,
        else after a back-off that doubles with each such death in a row, so
        that processes that cannot start, or a task that kills each one, do not
        have the worker spawn processes in a loop."""
        self._selector.unregister(p.fd)
        _join(p.process)
        p.connection.close()
        self._processes.remove(p)
        code = p.process.exitcode
        how = ("killed by signal %d" % -code) if code < 0 else "exited with status %d" % code
        if p.ended:
            self._failures = 0
            self._processes.append(self._start_process())
            _log.warning("a pool process (pid %d) %s; a new one takes its place", p.process.pid,
                         how)
        else:
            self._failures += 1
            delay = _backoff(self._failures)
            self._starts.append(time.monotonic() + delay)
            _log.warning("a pool process (pid %d) %s before it finished a job; a new one takes "
                         "its place in %.1f s", p.process.pid, how, delay)
        if p.jobs:
            running = p.jobs.popleft().job
            self._free_slot(running)
            self._waiting.extendleft(reversed(p.jobs))  # never begun: first in line, in order
            self._send_waiting()
            error = ProcessDied("the process running the job %s" % how)
            self._finished(running, failure(error, with_traceback=False))


def _backoff(failures):
    """Seconds to wait after `failures` failures in a row."""
    return min(_BACKOFF_MAX_S, _BACKOFF_FIRST_S * 2 ** min(failures - 1, 16))


def _join(process):
    """Waits for a process that has closed its pipe, or should have: one that
    lingers is killed."""
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()


class _Process:
    """A pool process, its end of the pipe, and the jobs sent to it, the one it
    runs first."""

    def __init__(self, process, connection):
        self.process = process
        self.connection = connection
        self.fd = connection.fileno()
        self.frames = Frames()
        self.jobs = collections.deque()  # of _Sent
        self.queued = 0  # bytes of the jobs after the first: what may wait in the pipe
        self.outbox = bytearray()  # what this round of the loop sends it
        self.ended = 0  # jobs it has finished
        self.ready = False  # it has started, and said so: jobs may go to it

    def holds(self):
        return len(self.jobs)


_Sent = collections.namedtuple("_Sent", "job data")  # data: the job's frame


class ProcessDied(RuntimeError):
    """A job's pool process ended while it ran the job: a crash, os._exit()."""


class _Control:
    """The loop's inbox: messages from any thread, or from a signal handler
    (SimpleQueue.put and os.write may run in one), and a pipe that the loop's
    selector watches, written once for all the messages that come before the
    loop takes them."""

    def __init__(self):
        self._queue = queue.SimpleQueue()
        self.fd, self._wake = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._wake, False)
        self._told = False  # the pipe has been written since the loop last took
        weakref.finalize(self, _close_pipe, self.fd, self._wake)

    def put(self, message):
        self._queue.put(message)
        if not self._told:
            self._told = True
            with contextlib.suppress(BlockingIOError):
                os.write(self._wake, b"x")

    def take(self):
        """The messages put so far; on the loop's thread, once the pipe is readable."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 4096)
        self._told = False  # before the queue is read: a put from now on writes again
        messages = []
        while True:
            try:
                messages.append(self._queue.get_nowait())
            except queue.Empty:
                return messages


def _close_pipe(*fds):
    for fd in fds:
        os.close(fd)


@contextlib.contextmanager
def _signals_to(control):
    """SIGINT and SIGTERM become messages to the loop while it runs, where it
    runs on the main thread (no other may handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    # SimpleQueue.put may be called from a signal handler.
    previous = [signal.signal(s, lambda signum, _: control.put(("signal", signum)))
                for s in signals]
    try:
        yield
    finally:
        for s, handler in zip(signals, previous):
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


def _put(control, kind, *details):
    control.put((kind,) + details)


def _takes_job(function):
    """Whether a task function takes a JobContext: it has a second positional parameter."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = inspect.signature(function).parameters.values()
    return len([p for p in parameters if p.kind in kinds]) >= 2


def _check_picklable(tasks):
    """A task function goes to a pool process by name: one that pickle cannot
    name there fails here, not with every job."""
    for name, task in tasks.items():
        try:
            pickle.dumps(task.function)
        except Exception as e:
            raise ValueError("task %r: a function run in processes must be defined at a "
                             "module's top level: %s" % (name, e)) from e
