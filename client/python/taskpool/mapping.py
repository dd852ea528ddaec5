"""Many jobs from one iterable: the machinery under Client.map, imap and
imap_unordered."""

import functools
import json
import queue

from .errors import JobFailed, TaskpoolError
from .futures import Future

# A map request carries at most this many items, and this many bytes of their
# JSON (an item larger than that goes alone), as the taskpool CLI sends them: a
# request line and its reply must stay under the daemon's limits
# (limits.max_message_bytes, 1 MiB by default), and a map whose reply would not
# is refused whole.
CHUNK_ITEMS = 1000
CHUNK_BYTES = 256 * 1024

# Chunks whose jobs may be unfinished at once. The daemon keeps the events of
# our jobs until we read them and closes a connection that lets too many pile
# up (twice limits.max_output_buffer_bytes); with a window, a map of any length
# never has more in flight than a few chunks bring, and the iterable is read
# only as chunks go out.
WINDOW = 4

# How long a chunk may wait for room in a full queue (block_s) unless the
# caller says otherwise: a map refused half-way would leave half its items
# submitted.
BLOCK_FOR_ROOM_S = 30 * 24 * 3600


def chunks(iterable, chunksize):
    """Yields (index of the first item, items) in order."""
    chunk, size, first = [], 0, 0
    for index, item in enumerate(iterable):
        item_size = len(json.dumps(item, separators=(",", ":")))
        if chunk and (len(chunk) >= chunksize or size + item_size > CHUNK_BYTES):
            yield first, chunk
            chunk, size, first = [], 0, index
        chunk.append(item)
        size += item_size
    if chunk:
        yield first, chunk


def completed(client, task, iterable, chunksize, options):
    """Yields (index, future) for each item of `iterable` as its job finishes;
    each future holds the job's result or its JobFailed. A refused request,
    or the connection lost, raises here: that is no job's outcome. Jobs already
    submitted then go on; items not yet sent are not sent."""
    options = dict({"block_s": BLOCK_FOR_ROOM_S}, **options)
    finished = queue.SimpleQueue()  # (index, first index of its chunk, future)
    # A `then` follows one batch: its map goes as one request.
    pending = iter([(0, list(iterable))]) if "then" in options else chunks(iterable, chunksize)
    open_chunks = {}  # first index -> [jobs not yet finished, number of items]
    more = True
    while True:
        while more and len(open_chunks) < WINDOW:
            chunk = next(pending, None)
            if chunk is None:
                more = False
                break
            first, items = chunk
            futures = [Future(client) for _ in items]
            for offset, future in enumerate(futures):
                future._when_done(functools.partial(_report, finished, first + offset, first))
            open_chunks[first] = [len(items), len(items)]
            client._send_jobs("map", dict(options, task=task, items=items), futures)
        if not open_chunks:
            return
        index, first, future = finished.get()
        error = future.exception()
        if error is not None and not isinstance(error, JobFailed):
            count = open_chunks[first][1]
            raise _in_chunk(error, first, count) from None
        open_chunks[first][0] -= 1
        if not open_chunks[first][0]:
            del open_chunks[first]
        yield index, future


def _report(finished, index, first, future):
    finished.put((index, first, future))


def _in_chunk(error, first, count):
    """A refusal, naming the items of the request refused: the daemon's own
    message counts items from the start of that request."""
    if type(error) is not TaskpoolError:
        return error  # ConnectionClosed: not about any one request
    return TaskpoolError(error.code, "the request of items %d to %d was refused (earlier items "
                         "were submitted): %s" % (first, first + count - 1, error.message))
