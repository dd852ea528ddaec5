"""The client: every op of the protocol as a method, and on top of them jobs
as futures and Pool-style apply and map."""

import concurrent.futures
import functools
import os
import queue
import threading

from . import mapping, transport
from .connection import Connection
from .errors import ConnectionClosed, TaskpoolError
from .futures import CallbackThread, Future

DEFAULT_ADDRESS = "127.0.0.1:7433"
PROTOCOL_VERSIONS = (1, 2)  # version 2 keeps every message of version 1
_FINISHED = ("succeeded", "failed", "cancelled")


# set_queue's default: a limit that stays as it is (None lifts it).
_KEEP = object()


class Client:
    """One connection to taskpoold, safe to share between threads.

    `address` ("host:port", "tcp://host:port" or "tls://host:port") defaults to
    $TASKPOOL_ADDR, then 127.0.0.1:7433; `token` to $TASKPOOL_TOKEN. `timeout`
    (seconds) bounds connecting, the TLS handshake, and each wait for a reply,
    beyond any `wait` or `block_s` the request itself asks for; past it,
    TimeoutError. None waits as long as the daemon takes. It does not bound how
    long jobs run: Future.result(timeout) does that.

    TLS is on with a tls:// address, `tls=True`, or any of `ca`, `cert`, `key`
    and `ssl_context` given. `ca` (a file of PEM CA certificates to trust)
    defaults to $TASKPOOL_CA, else the system's trusted CAs; `cert` and `key`
    (a client certificate, for a daemon with tls.client_ca, and its key, which
    may be in the cert file) to $TASKPOOL_CERT and $TASKPOOL_KEY. An
    `ssl_context` of your own is used as it is, instead of those. Either way
    the daemon's certificate must be valid for the address's host name or IP.

    A reader thread reads every reply and event; callbacks run on a callback
    thread of their own. close() (or leaving a `with` block) stops both, once
    the callbacks already due have run."""

    _PUMPED = False  # a subclass whose owner reads the connection itself: see Connection

    def __init__(self, address=None, token=None, timeout=None, client_name="taskpool-python", *,
                 tls=False, ca=None, cert=None, key=None, ssl_context=None):
        address = address or os.environ.get("TASKPOOL_ADDR") or DEFAULT_ADDRESS
        scheme, host, port = _parse_address(address)
        ssl_context = _ssl_context(scheme, tls, ca, cert, key, ssl_context)
        if token is None:
            token = os.environ.get("TASKPOOL_TOKEN")
        self.timeout = timeout
        self._lock = threading.Lock()  # guards _futures
        self._futures = {}  # job id -> [Future], for jobs whose job.finished is due
        self._events = queue.Queue()  # for events(), once asked for
        self._keep_events = False
        self._conn = Connection(host, port, timeout, ssl_context, self._on_event, self._on_close,
                                pumped=self._PUMPED)
        self._callbacks = CallbackThread()
        try:
            self.server = self.call("hello", **_given(client=client_name, token=token or None))
            spoken = self.server.get("protocol")
            if spoken not in PROTOCOL_VERSIONS:
                raise TaskpoolError("bad_request", "the daemon speaks protocol %s, this client "
                                    "%s" % (spoken, " or ".join(map(str, PROTOCOL_VERSIONS))))
        except BaseException:
            self.close()
            raise

    def close(self):
        """Closes the connection. Futures still pending fail with
        ConnectionClosed; callbacks already due run before close() returns."""
        self._conn.close()
        self._callbacks.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- jobs as futures, in the manner of multiprocessing.Pool ----------------

    def apply_async(self, task, args=None, callback=None, error_callback=None, **options):
        """Submits one job and returns its Future once the daemon has accepted
        it (a refusal raises TaskpoolError here). As with Pool.apply_async,
        callback(result) runs when the job succeeds and error_callback(error)
        with its JobFailed when it fails or is cancelled (or with
        ConnectionClosed if the connection goes first), on the client's
        callback thread, one at a time; result() returns once they have run.

        Options are those of submit (pool, priority, timeout_s, retries, key,
        bind, ...); the protocol's `callback` (a webhook) is named `webhook`
        here."""
        future = Future(self, callback, error_callback)
        reply = self._send_jobs("submit", _given(task=task, args=args, **_wire(options)), [future])
        _unwrap(self._reply(reply, options))
        return future

    submit_async = apply_async  # the C++ client's name for it

    def apply(self, task, args=None, **options):
        """Runs one job and returns its result, or raises its JobFailed."""
        return self.apply_async(task, args, **options).result()

    def map(self, task, iterable, return_exceptions=False, chunksize=mapping.CHUNK_ITEMS,
            **options):
        """One job per item, the results in the order of the items, as Pool.map.
        A failed job raises its JobFailed (the first in order), unless
        `return_exceptions`: then the JobFailed stands in its place. Items go
        in map requests of at most `chunksize` items and 256 KiB (with `then`,
        which follows one batch, in one request); a chunk waits
        for room in a full queue (block_s, 30 days unless given). A refused
        request raises TaskpoolError; the jobs of earlier ones go on."""
        return list(self.imap(task, iterable, return_exceptions, chunksize, **options))

    def imap(self, task, iterable, return_exceptions=False, chunksize=mapping.CHUNK_ITEMS,
             **options):
        """map, yielding each result as soon as those before it are in."""
        ready = {}
        next_index = 0
        for index, future in mapping.completed(self, task, iterable, chunksize, _wire(options)):
            ready[index] = future
            while next_index in ready:
                yield _outcome(ready.pop(next_index), return_exceptions)
                next_index += 1

    def imap_unordered(self, task, iterable, return_exceptions=False, chunksize=mapping.CHUNK_ITEMS,
                       **options):
        """map, yielding each result as its job finishes."""
        for _, future in mapping.completed(self, task, iterable, chunksize, _wire(options)):
            yield _outcome(future, return_exceptions)

    # -- the ops ----------------------------------------------------------------

    def call(self, op, **fields):
        """Sends one request and returns its reply (without `id` and `ok`);
        raises TaskpoolError if the daemon refuses it."""
        if op == "subscribe" or fields.get("notify"):
            self._keep_events = True
        return _unwrap(self._reply(self._conn.request(dict(fields, op=op)), fields))

    def ping(self):
        return self.call("ping")["pong"]

    def submit(self, task, args=None, wait=None, **options):
        """Submits one job and returns it. `wait=True` (or seconds) returns it
        finished (or as it is when the wait runs out). Options: pool, priority,
        timeout_s, retries, retry_backoff_s, key, block_s, notify, bind,
        callback, queue, and delay_s or run_at (RFC 3339 or Unix seconds) for a
        job due later (see the protocol)."""
        return self.call("submit", **_given(task=task, args=args, wait=wait, **options))["job"]

    def map_jobs(self, task, items, wait=None, **options):
        """One map request: one job per item, accepted all or none; returns the
        jobs in order. Keep it under the daemon's message bound; map() sends
        any number of items."""
        fields = _given(task=task, items=list(items), wait=wait, **options)
        return self.call("map", **fields)["jobs"]

    def get(self, job_id, wait=None):
        return self.call("get", **_given(job=job_id, wait=wait))["job"]

    def wait(self, job_id, timeout=True):
        """The job once it has finished (or after `timeout` seconds)."""
        return self.get(job_id, wait=timeout)

    def cancel(self, job_id):
        return self.call("cancel", job=job_id)["job"]

    def retry(self, job_id):
        """Queues a failed or cancelled job again under its id."""
        return self.call("retry", job=job_id)["job"]

    def set_queue(self, name, max_concurrency=_KEEP, rate_limit=_KEEP):
        """Sets a named queue's limits, making it if new: a limit not given stays
        as it is, None lifts it. rate_limit: "10/s", "100/m" or "5/h"."""
        limits = {"max_concurrency": max_concurrency, "rate_limit": rate_limit}
        fields = {k: v for k, v in limits.items() if v is not _KEEP}
        return self.call("queue.set", queue=name, **fields)["queue"]

    def queues(self):
        """Every named queue: its limits, whether paused, queued and running jobs."""
        return self.call("queue.list")["queues"]

    def pause(self, queue=None, pool=None):
        """Pauses a queue or a pool (one of the two): it starts no job until
        resumed; running ones go on."""
        reply = self.call("pause", **_given(queue=queue, pool=pool))
        return reply.get("queue") or reply["pool"]

    def resume(self, queue=None, pool=None):
        reply = self.call("resume", **_given(queue=queue, pool=pool))
        return reply.get("queue") or reply["pool"]

    def set_schedule(self, name, task, args=None, cron=None, every_s=None,
                     catch_up=None, paused=None, **options):
        """Sets a recurring schedule, replacing one of that name: a job of `task`
        at each time `cron` (five fields, UTC) names, or every `every_s` seconds.
        Keyword options are those of submit (priority, queue, retries...)."""
        fields = _given(args=args, cron=cron, every_s=every_s, catch_up=catch_up,
                        paused=paused)
        if options:
            fields["options"] = options
        return self.call("schedule.set", name=name, task=task, **fields)["schedule"]

    def delete_schedule(self, name):
        self.call("schedule.del", name=name)

    def schedules(self):
        """Every schedule: its task, cron or every_s, next_at, last_at, last_job."""
        return self.call("schedule.list")["schedules"]

    def list(self, state=None, limit=None):
        return self.call("list", **_given(state=state, limit=limit))["jobs"]

    def stats(self):
        return self.call("stats")

    def tasks(self):
        return self.call("tasks")["tasks"]

    def resize(self, pool, size):
        return self.call("resize", pool=pool, size=size)["pools"]

    def kv_get(self, key):
        return self.call("kv.get", key=key)["value"]

    def kv_set(self, key, value):
        return self.call("kv.set", key=key, value=value)["value"]

    def kv_del(self, key):
        return self.call("kv.del", key=key)["value"]

    def kv_incr(self, key, by=1):
        return self.call("kv.incr", key=key, by=by)["value"]

    def kv_cas(self, key, expect, value):
        """Sets `key` to `value` if it holds `expect` (None: absent). Returns
        (swapped, the value now)."""
        reply = self.call("kv.cas", key=key, expect=expect, value=value)
        return reply["swapped"], reply["value"]

    def subscribe(self, jobs=None):
        """Asks for job events (of these job ids; None: every job). Read them
        with events()."""
        self.call("subscribe", **_given(jobs=jobs))

    def events(self):
        """Yields events as they come: {"event": "job.finished", "job": {...}}.
        Once subscribe() or a request with notify=True has asked for events,
        every event of the connection is kept for this, those of jobs that
        futures follow too. Raises TimeoutError after `timeout` seconds without
        one, ConnectionClosed once the connection is gone."""
        while True:
            try:
                event = self._events.get(timeout=self.timeout)
            except queue.Empty:
                raise TimeoutError("no event within %s s" % self.timeout) from None
            if isinstance(event, ConnectionClosed):
                self._events.put(event)  # for the next caller too
                raise event
            yield event

    # -- the reader thread's side ---------------------------------------------

    def _send_jobs(self, op, fields, futures):
        """Sends a submit or map with notify; its reply ties its jobs to
        `futures`, in order. The tie is made on the reader thread as it reads
        the reply, so no job.finished that follows can pass its future by; and
        one that comes before (a `wait` has the daemon answer after the job's
        events) comes with a reply that already shows the job finished.
        Returns the Future of the reply."""
        return self._conn.request(dict(fields, op=op, notify=True),
                                  functools.partial(self._tie, futures))

    def _tie(self, futures, reply):
        try:
            jobs = _unwrap(reply.result())
        except TaskpoolError as e:  # refused, or the connection went first
            for future in futures:
                future.set_exception(e)
            return
        finished = []
        with self._lock:
            for future, job in zip(futures, jobs.get("jobs") or [jobs["job"]]):
                future._accepted(job)
                if job["state"] in _FINISHED:
                    finished.append((future, job))
                else:
                    self._futures.setdefault(job["id"], []).append(future)
        for future, job in finished:
            future._finish(job)

    def _job_finished(self, job):
        """Settles the futures of a finished job (from its event, or from the
        reply to a cancel), each once."""
        with self._lock:
            futures = self._futures.pop(job["id"], ())
        for future in futures:
            future._finish(job)

    def _on_event(self, event):
        if event.get("event") == "job.finished":
            self._job_finished(event["job"])
        if self._keep_events:
            self._events.put(event)

    def _on_close(self, error):
        with self._lock:
            futures = [f for waiting in self._futures.values() for f in waiting]
            self._futures.clear()
        for future in futures:
            future._finish(error=error)
        self._events.put(error)

    def _reply(self, reply, fields):
        """Waits for a reply: up to `timeout`, plus the wait the request asked for."""
        timeout = self.timeout
        wait = fields.get("wait")
        if timeout is not None and wait is not None:
            timeout = None if wait is True else timeout + wait
        if timeout is not None and fields.get("block_s") is not None:
            timeout += fields["block_s"]
        try:
            return self._conn.result(reply, timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError("no reply from taskpoold within %s s" % timeout) from None


connect = Client  # as the one-file taskpool.py that this package replaces named it


def _parse_address(address):
    """(scheme, host, port) of "host:port", "tcp://host:port" or "tls://host:port"
    (an IPv6 host in brackets)."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    elif scheme not in ("tcp", "tls"):
        raise ValueError("address %r: the scheme may be tcp:// or tls://" % address)
    host, _, port = rest.rpartition(":")
    return scheme, host.strip("[]"), int(port)


def _ssl_context(scheme, tls, ca, cert, key, ssl_context):
    """The SSLContext to connect with, None for plain TCP: `ssl_context` as it
    is, else where TLS is asked for, one made of `ca`, `cert` and `key` or
    their variables."""
    if ssl_context is None and (scheme == "tls" or tls or ca or cert or key):
        ssl_context = transport.tls_context(
            ca or os.environ.get("TASKPOOL_CA"), cert or os.environ.get("TASKPOOL_CERT"),
            key or os.environ.get("TASKPOOL_KEY"))
    return ssl_context


def _unwrap(reply):
    """The fields of a reply, or its refusal raised."""
    if not reply.get("ok"):
        error = reply.get("error") or {}
        raise TaskpoolError(error.get("code", "internal"), error.get("message", ""))
    return {k: v for k, v in reply.items() if k not in ("id", "ok")}


def _outcome(future, return_exceptions):
    error = future.exception()
    if error is None:
        return future.result()
    if return_exceptions:
        return error
    raise error


def _wire(options):
    """Submit options as the protocol names them: `webhook` is its `callback`."""
    options = dict(options)
    if "webhook" in options:
        options["callback"] = options.pop("webhook")
    return options


def _given(**fields):
    """The fields that were given: None stands for "leave it out"."""
    return {k: v for k, v in fields.items() if v is not None}
