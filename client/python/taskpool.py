"""A client for taskpoold, on Python's standard library alone.

Speaks the NDJSON protocol (one JSON object per line over TCP): every op of the
protocol is a method, replies come back as dicts, failures raise TaskpoolError
with the protocol's error code.

    import taskpool
    with taskpool.connect("127.0.0.1:7433") as tp:
        job = tp.submit("echo", {"hello": "world"}, wait=True)
        print(job["state"], job["result"])

Copy this one file next to your program; it needs nothing else.
"""

import itertools
import json
import os
import socket

__all__ = ["Client", "TaskpoolError", "connect", "DEFAULT_ADDRESS"]

DEFAULT_ADDRESS = "127.0.0.1:7433"
PROTOCOL_VERSION = 1


class TaskpoolError(Exception):
    """A request the daemon refused: `code` is the protocol's error code
    (bad_request, no_such_job, queue_full, ...), `message` says why."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message


def connect(address=None, token=None, timeout=None, client_name="taskpool.py"):
    """Connects and says hello. `address` defaults to $TASKPOOL_ADDR, then
    127.0.0.1:7433; `token` to $TASKPOOL_TOKEN. `timeout` (seconds) bounds each
    read; None waits as long as the daemon takes."""
    return Client(address, token, timeout, client_name)


class Client:
    """One connection. Not thread-safe: use one per thread."""

    def __init__(self, address=None, token=None, timeout=None, client_name="taskpool.py"):
        address = address or os.environ.get("TASKPOOL_ADDR") or DEFAULT_ADDRESS
        host, _, port = address.rpartition(":")
        self._sock = socket.create_connection((host.strip("[]"), int(port)))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.settimeout(timeout)
        self._reader = self._sock.makefile("rb")
        self._ids = itertools.count(1)
        self._events = []
        if token is None:
            token = os.environ.get("TASKPOOL_TOKEN")
        hello = {"client": client_name}
        if token:
            hello["token"] = token
        self.server = self.call("hello", **hello)
        if self.server.get("protocol") != PROTOCOL_VERSION:
            raise TaskpoolError("bad_request",
                                "the daemon speaks protocol %s, this client %d"
                                % (self.server.get("protocol"), PROTOCOL_VERSION))

    def close(self):
        self._reader.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the ops --------------------------------------------------------------

    def call(self, op, **fields):
        """Sends one request and returns its reply (without `id` and `ok`)."""
        request_id = next(self._ids)
        request = {"id": request_id, "op": op}
        request.update(fields)
        self._sock.sendall(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        while True:
            message = self._read()
            if "event" in message:
                self._events.append(message)
                continue
            if message.get("id") != request_id:
                continue  # a reply to a request whose caller gave up
            if not message.get("ok"):
                error = message.get("error", {})
                raise TaskpoolError(error.get("code", "internal"), error.get("message", ""))
            message.pop("id", None)
            message.pop("ok", None)
            return message

    def ping(self):
        return self.call("ping")["pong"]

    def submit(self, task, args=None, wait=None, **options):
        """Submits one job and returns it. `wait=True` (or seconds) returns it
        finished (or as it is when the wait runs out). Options: pool, priority,
        timeout_s, retries, key, block_s, callback (see the protocol)."""
        return self.call("submit", **_given(task=task, args=args, wait=wait, **options))["job"]

    def map(self, task, items, wait=None, **options):
        """One job per item, accepted all or none; returns the jobs in order."""
        return self.call("map", **_given(task=task, items=list(items), wait=wait, **options))["jobs"]

    def get(self, job_id, wait=None):
        return self.call("get", **_given(job=job_id, wait=wait))["job"]

    def wait(self, job_id, timeout=True):
        """The job once it has finished (or after `timeout` seconds)."""
        return self.get(job_id, wait=timeout)

    def cancel(self, job_id):
        return self.call("cancel", job=job_id)["job"]

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
        """Yields events as they come: {"event": "job.finished", "job": {...}}."""
        while True:
            while self._events:
                yield self._events.pop(0)
            yield self._read()

    # -- the wire -------------------------------------------------------------

    def _read(self):
        line = self._reader.readline()
        if not line:
            raise ConnectionError("taskpoold closed the connection")
        return json.loads(line)


def _given(**fields):
    """The fields that were given: None stands for "leave it out"."""
    return {k: v for k, v in fields.items() if v is not None}
