"""The byte streams a Connection runs over: TCP as it is, or TLS inside it.

OpenSSL forbids two threads in one SSL object at once, a read and a write
included, and Python does not keep them apart. Yet the reader must go on
reading while a sender waits for the daemon to take its bytes, or neither would
move. So a TLS socket is made non-blocking after its handshake: every SSL call
is made under one lock, and the waits for the socket outside it.
"""

import selectors
import socket
import ssl
import threading

from .errors import ConnectionClosed

_CHUNK = 65536  # bytes asked for by each read
_RECHECK_S = 0.1  # see TlsTransport.send_all
# X509_V_ERR_* codes that mean the daemon's certificate comes from a CA not trusted here.
_UNKNOWN_ISSUER = (2, 18, 19, 20)


def tls_context(ca=None, cert=None, key=None):
    """The SSLContext a Client makes of `ca` (a file of PEM CA certificates to
    trust; None: the system's), `cert` and `key` (a client certificate and its
    key; `key` may be left out when the `cert` file holds it): TLS 1.2 or
    later, the daemon's certificate and name verified. A base to adjust and
    pass as `ssl_context`."""
    if key and not cert:
        raise ValueError("a client key needs its certificate: pass cert= (or set "
                         "TASKPOOL_CERT) too")
    try:
        context = ssl.create_default_context(cafile=ca)
    except OSError as e:
        raise _file_error("ca", ca, e) from e
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        try:
            context.load_cert_chain(cert, key)
        except OSError as e:
            if not key and isinstance(e, ssl.SSLError):
                raise ValueError("%s holds no private key: pass key= (or set TASKPOOL_KEY) with "
                                 "the file of the certificate's key" % cert) from e
            raise _file_error("client certificate", cert if not key else "%s with key %s"
                          % (cert, key), e) from e
    return context


def connect(host, port, timeout, context):
    """Connects to host:port, and with an SSLContext makes the TLS handshake
    (the name or IP checked is `host`); `timeout` bounds each."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is None:
            sock.settimeout(None)  # the reader waits for events as long as they take
            return TcpTransport(sock)
        where = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        try:
            sock = context.wrap_socket(sock, server_hostname=host)
        except socket.timeout as e:
            raise TimeoutError("the TLS handshake with %s took longer than %s s"
                               % (where, timeout)) from e
        except OSError as e:  # ssl.SSLError among them, or the daemon closing mid-handshake
            raise ConnectionClosed("connection_closed", "TLS handshake with %s failed: %s"
                                   % (where, _tls_failure(e))) from e
        return TlsTransport(sock, where)
    except BaseException:
        sock.close()
        raise


class TcpTransport:
    """Plain TCP: blocking reads and writes, which two threads may make at once."""

    def __init__(self, sock):
        self._sock = sock

    def recv_some(self):
        """Bytes as they come; b"" at the end of the stream."""
        return self._sock.recv(_CHUNK)

    def recv_nowait(self):
        """Bytes that have come; b"" at the end of the stream; None if none yet."""
        try:
            return self._sock.recv(_CHUNK, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None

    def fileno(self):
        return self._sock.fileno()

    def send_all(self, data):
        self._sock.sendall(data)

    def shutdown(self):
        """Ends the stream both ways, which wakes the reader with end of file."""
        try:
            # The socket's own shutdown: SSLSocket's would also drop the SSL
            # object, under a reader that may be inside it.
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def close(self):
        self._sock.close()

    def lost(self, error, heard):
        """Why the stream ended: `error` (None: the daemon closed it), `heard`
        whether the daemon had sent anything."""
        if heard:
            return _lost(error)
        # A port with TLS closes a plaintext connection without a word.
        return "%s before answering (if it serves TLS, use a tls:// address)" % _lost(error)


class TlsTransport(TcpTransport):
    """TLS on a non-blocking socket: SSL calls one at a time under a lock,
    waits for the socket outside it."""

    def __init__(self, sock, where):
        super().__init__(sock)
        sock.setblocking(False)
        self._where = where
        self._io_lock = threading.Lock()
        self._reader_waits = _Waiter(sock)
        self._sender_waits = _Waiter(sock)  # senders take turns under the Connection's lock

    def recv_some(self):
        while True:
            data, want = self._ssl_call(self._sock.recv, _CHUNK)
            if want is None:
                return data
            self._reader_waits.wait(want)

    def recv_nowait(self):
        data, want = self._ssl_call(self._sock.recv, _CHUNK)
        return None if want is not None else data

    def send_all(self, data):
        view = memoryview(data)
        while view:
            # After a want, OpenSSL needs the same bytes again: `view` is unchanged.
            sent, want = self._ssl_call(self._sock.send, view)
            if want is None:
                view = view[sent:]
            else:
                # With a timeout: should this write want to read, the reader may
                # read those bytes first, and the socket not be readable again.
                self._sender_waits.wait(want, _RECHECK_S)

    def close(self):
        self._reader_waits.close()
        self._sender_waits.close()
        super().close()

    def lost(self, error, heard):
        if isinstance(error, ssl.SSLError):
            return "TLS with %s failed: %s" % (self._where, _tls_failure(error))
        return _lost(error)

    def _ssl_call(self, call, arg):
        """call(arg) under the lock: (its result, None), or (None, the
        SSLWantReadError or SSLWantWriteError that says what to wait for)."""
        with self._io_lock:
            try:
                return call(arg), None
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError) as e:
                return None, e


class _Waiter:
    """Waits until the socket can do what OpenSSL wants. One for each thread
    that waits, since a selector is not for threads to share."""

    def __init__(self, sock):
        self._sock = sock
        self._events = selectors.EVENT_READ
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, self._events)

    def wait(self, want, timeout=None):
        events = (selectors.EVENT_WRITE if isinstance(want, ssl.SSLWantWriteError)
                  else selectors.EVENT_READ)
        if events != self._events:
            self._selector.modify(self._sock, events)
            self._events = events
        self._selector.select(timeout)

    def close(self):
        self._selector.close()


def _file_error(what, path, error):
    """An error of ssl's in loading a file, with the file named, which ssl leaves out."""
    if isinstance(error, ssl.SSLError):
        return ValueError("%s %s: %s" % (what, path, _openssl_says(error)))
    return type(error)(error.errno, "%s %s: %s" % (what, path, error.strerror))


def _lost(error):
    return "connection lost: %s" % error if error is not None else "taskpoold closed the connection"


def _tls_failure(error):
    """What OpenSSL found, and what to do about it where that is clear."""
    reason = getattr(error, "reason", None)
    if isinstance(error, ssl.SSLCertVerificationError):
        why = "certificate verify failed: %s" % error.verify_message
    elif isinstance(error, ssl.SSLError):
        why = _openssl_says(error)
    else:
        why = error.strerror or str(error)
    if getattr(error, "verify_code", None) in _UNKNOWN_ISSUER:
        return why + " (to trust the daemon's CA, pass ca= or set TASKPOOL_CA)"
    if reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return why + (" (taskpoold asks for a client certificate: pass cert= and key=, or set "
                      "TASKPOOL_CERT and TASKPOOL_KEY)")
    if reason and "_ALERT_" in reason and ("CERTIFICATE" in reason or "UNKNOWN_CA" in reason):
        # An alert comes from the daemon: the certificate it speaks of is ours.
        return why + " (taskpoold refused the client certificate)"
    if reason == "WRONG_VERSION_NUMBER":
        return why + " (does it serve TLS? if not, use tcp:// or no scheme)"
    return why


def _openssl_says(error):
    """OpenSSL's words for an ssl.SSLError: its reason (CERTIFICATE_REQUIRED is
    "certificate required"), without the source file and line."""
    if error.reason:
        return error.reason.lower().replace("_", " ")
    return str(error)
