"""A client for taskpoold, on Python's standard library alone.

Speaks the NDJSON protocol over one TCP connection, in TLS or not, shared
safely by any number of threads. Jobs can be run in the manner of
multiprocessing.Pool (apply, apply_async with callbacks, map, imap,
imap_unordered) and followed as concurrent.futures-style futures; every op of
the protocol is also a method that returns the daemon's reply. Refusals raise
TaskpoolError with the protocol's error code; a job that failed raises
JobFailed with the job's. A Worker serves tasks of its own, in Python, as a
remote worker of the daemon.

    import taskpool
    with taskpool.Client() as tp:           # $TASKPOOL_ADDR, or 127.0.0.1:7433
        print(tp.apply("echo", {"hello": "world"}))
        print(tp.map("fib", [{"n": n} for n in range(20)]))

docs/python.md has more.
"""

from .client import DEFAULT_ADDRESS, PROTOCOL_VERSIONS, Client, connect
from .context import JobContext, ResultTooLarge
from .errors import ConnectionClosed, JobCancelled, JobFailed, TaskpoolError
from .futures import Future
from .transport import tls_context
from .worker import Worker

__version__ = "0.2.0"  # the product's version (proto/version.hpp); a test keeps them equal

__all__ = [
    "Client", "connect", "Future", "TaskpoolError", "JobFailed", "JobCancelled",
    "ConnectionClosed", "DEFAULT_ADDRESS", "PROTOCOL_VERSIONS", "tls_context", "Worker",
    "JobContext", "ResultTooLarge",
]
