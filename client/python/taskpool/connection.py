"""One NDJSON connection to taskpoold, in TCP or TLS, shared by any number of threads.

A reader thread owns the stream's reads: it hands each reply to the request
that awaits it (matched by `id`, since a waiting request may be answered after
later ones) and each event to `on_event`. A pumped connection has no reader
thread: the thread that owns it reads by pump() when its socket is readable
(a worker's loop, which so waits on one selector for everything), and
result() pumps until a reply has come. Writes go whole, one line at a time,
under a lock of their own: a sender blocked because the daemon is not reading
must never hold up the reader, which is what lets the daemon read again
(transport.py keeps that so inside TLS).
"""

import concurrent.futures
import itertools
import json
import selectors
import threading
import time

from . import transport
from .errors import ConnectionClosed


class Connection:
    """Requests return a concurrent.futures.Future of the raw reply (a dict, ok
    or not); if the connection goes first, it holds a ConnectionClosed.
    `on_event(event)` and `on_close(error)` run on the reader thread, and so do
    the done-callbacks of reply futures that were added before the request was
    sent: they must be quick and never wait for the daemon. With an SSLContext,
    the connection is TLS, verified against `host`."""

    def __init__(self, host, port, timeout, ssl_context, on_event, on_close, pumped=False):
        self._transport = transport.connect(host, port, timeout, ssl_context)
        self._on_event = on_event
        self._on_close = on_close
        self._ids = itertools.count(1)
        self._pending = {}  # request id -> the Future of its reply
        self._lock = threading.Lock()  # guards _pending, _closed, _closing
        self._send_lock = threading.Lock()  # one line at a time on the stream; guards _held
        self._held = None  # while held: the lines to send at once, when let go
        self._closed = None  # the ConnectionClosed, once the connection is gone
        self._closing = False  # close() was called
        self._last_word = None  # an error the daemon sent without an id
        self._buffer = bytearray()  # the start of a line yet to end
        self._heard = False  # anything at all from the daemon
        self._reader = None
        if not pumped:
            self._reader = threading.Thread(target=self._read, name="taskpool-reader",
                                            daemon=True)
            self._reader.start()

    def request(self, fields, on_reply=None):
        """Sends one request; returns the Future of its reply. `on_reply(future)`
        runs on the reader thread as the reply is read, before any later line."""
        reply = concurrent.futures.Future()
        if on_reply is not None:
            reply.add_done_callback(on_reply)
        return self._send(fields, reply)

    def send(self, fields, on_reply):
        """Sends one request without a Future: `on_reply` is called with the
        reply, or with the ConnectionClosed that ends the wait, where the
        reader would complete a Future."""
        self._send(fields, _Callback(on_reply))

    def _send(self, fields, reply):
        """Sends a request whose reply completes `reply` (a Future, or a _Callback)."""
        # A value JSON cannot hold raises here, before anything is sent.
        body = json.dumps(fields, separators=(",", ":"))
        with self._lock:
            if self._closed is not None:
                reply.set_exception(self._closed)
                return reply
            request_id = next(self._ids)
            self._pending[request_id] = reply
        line = ('{"id":%d,%s\n' % (request_id, body[1:])).encode()
        try:
            with self._send_lock:
                if self._held is not None:
                    self._held += line
                    return reply
                self._transport.send_all(line)
        except OSError as e:
            # Part of a line may have gone out: the stream is lost either way.
            self._transport.shutdown()
            with self._lock:
                mine = self._pending.pop(request_id, None)
            if mine is not None:
                mine.set_exception(ConnectionClosed("connection_closed", "cannot send: %s" % e))
        return reply

    def hold(self):
        """Keeps the requests sent from now on, from any thread, until let_go()
        sends them in one write: a worker's loop holds its reports while it
        reads what has come, so that a batch of jobs costs one write."""
        with self._send_lock:
            if self._held is None:
                self._held = bytearray()

    def let_go(self):
        """Sends what hold() kept. A failure ends the stream, which the next
        read finds."""
        with self._send_lock:
            held, self._held = self._held, None
            if not held:
                return
            try:
                self._transport.send_all(held)
            except OSError:
                self._transport.shutdown()

    def result(self, reply, timeout):
        """The reply a request's Future holds, once it has come: within
        `timeout` seconds (None: no limit), else concurrent.futures.TimeoutError."""
        if self._reader is not None:
            return reply.result(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._transport.fileno(), selectors.EVENT_READ)
            while self.pump() and not reply.done():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise concurrent.futures.TimeoutError()
                selector.select(left)
        return reply.result(0)

    def fileno(self):
        return self._transport.fileno()

    def pump(self):
        """A pumped connection: reads what has come, without waiting, and hands
        on each line. False once the connection has ended."""
        if self._closed is not None:
            return False
        return self._take(self._transport.recv_nowait)

    def close(self):
        """Closes the connection and waits for the reader thread to end; requests
        still awaiting replies get ConnectionClosed."""
        with self._lock:
            self._closing = True
        self._transport.shutdown()
        if self._reader is None:
            self.pump()  # reads the end: pending requests fail, on_close runs
        elif threading.current_thread() is not self._reader:
            self._reader.join()
        self._transport.close()

    def _read(self):
        self._take(self._transport.recv_some)

    def _take(self, receive):
        """Hands on what receive() reads until it has nothing more for now
        (None: True) or the stream ends (False, and everything awaiting a reply
        fails)."""
        reason = None
        try:
            while True:
                data = receive()
                if data is None:
                    return True
                if not data:
                    break
                self._feed(data)
        except Exception as e:  # a broken stream, or a line that is not JSON
            reason = e
        self._fail_all(reason, self._heard)
        return False

    def _feed(self, data):
        self._heard = True
        self._buffer += data
        if b"\n" not in data:
            return
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            message = json.loads(line)
            if "event" in message:
                self._on_event(message)
            else:
                self._reply(message)

    def _reply(self, message):
        request_id = message.get("id")
        if request_id is None:
            # Not a reply to us (we always send an id): the daemon's word before
            # it closes, such as message_too_large or too_many_connections.
            self._last_word = message.get("error")
            return
        with self._lock:
            reply = self._pending.pop(request_id, None)
        if reply is not None:  # None: its caller gave up waiting
            reply.set_result(message)

    def _fail_all(self, reason, heard):
        with self._lock:
            if self._closing:
                error = ConnectionClosed("connection_closed", "the connection was closed")
            elif self._last_word:
                error = ConnectionClosed(self._last_word.get("code", "connection_closed"),
                                         self._last_word.get("message", ""))
            else:
                error = ConnectionClosed("connection_closed", self._transport.lost(reason, heard))
            self._closed = error
            pending, self._pending = self._pending, {}
        self._transport.shutdown()  # where the reader stopped on an error, nobody reads any more
        for reply in pending.values():
            reply.set_exception(error)
        self._on_close(error)


class _Callback:
    """What a Future is to the connection (set_result, set_exception), for a
    sender that wants only a call with the reply: no lock, no condition."""

    __slots__ = ("_call",)

    def __init__(self, call):
        self._call = call

    def set_result(self, message):
        self._call(message)

    def set_exception(self, error):
        self._call(error)
