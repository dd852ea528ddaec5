"""Tests of the taskpool package against the real daemon ($TASKPOOLD: the
taskpoold binary; tests/support on PYTHONPATH)."""

import concurrent.futures
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from unittest import mock

import taskpool
from taskpool.context import Frames, frame
from taskpool.mapping import CHUNK_BYTES, chunks
from taskpoold import Daemon, DaemonTestCase

HERE = os.path.dirname(os.path.abspath(__file__))


def wait_until(condition, timeout=10):
    """Polls `condition` until it gives something true, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    return None


class LowLevelTest(DaemonTestCase):
    """The protocol's ops as methods, each returning the daemon's reply."""

    def setUp(self):
        self.tp = taskpool.connect(self.daemon.address, timeout=30)

    def tearDown(self):
        self.tp.close()

    def test_hello_and_ping(self):
        self.assertEqual(self.tp.server["server"], "taskpoold")
        self.assertIn(self.tp.server["protocol"], taskpool.PROTOCOL_VERSIONS)
        self.assertTrue(self.tp.ping())

    def test_submit_and_wait(self):
        job = self.tp.submit("echo", {"x": [1, "two"]}, wait=True)
        self.assertEqual(job["state"], "succeeded")
        self.assertEqual(job["result"], {"x": [1, "two"]})

    def test_submit_then_get_and_wait(self):
        job = self.tp.submit("sleep", {"seconds": 0.2})
        self.assertIn(job["state"], ("queued", "running"))
        self.assertEqual(self.tp.wait(job["id"])["state"], "succeeded")
        self.assertEqual(self.tp.get(job["id"])["result"], {"slept": 0.2})

    def test_a_wait_longer_than_the_timeout_is_no_timeout(self):
        with taskpool.connect(self.daemon.address, timeout=0.5) as tp:
            job = tp.submit("sleep", {"seconds": 1}, wait=True)
            self.assertEqual(job["state"], "succeeded")

    def test_options_pass_through(self):
        job = self.tp.submit("pid", pool="process", priority=5, timeout_s=10, wait=True)
        self.assertEqual(job["pool"], "process")
        self.assertEqual(job["priority"], 5)
        self.assertNotEqual(job["result"]["pid"], self.daemon.process.pid)

    def test_map_jobs_keeps_the_order(self):
        jobs = self.tp.map_jobs("echo", range(50), wait=True)
        self.assertEqual([j["result"] for j in jobs], list(range(50)))
        self.assertEqual(len({j["batch"] for j in jobs}), 1)

    def test_cancel_and_list(self):
        job = self.tp.submit("sleep", {"seconds": 30})
        self.assertEqual(self.tp.cancel(job["id"])["state"], "cancelled")
        self.assertIn(job["id"], [j["id"] for j in self.tp.list(state="cancelled")])

    def test_later_and_retry(self):
        job = self.tp.submit("echo", "later", delay_s=0.3, retries=1, retry_backoff_s=0.1)
        self.assertEqual(job["state"], "scheduled")
        self.assertIn("scheduled_for", job)
        self.assertEqual(self.tp.wait(job["id"])["result"], "later")
        failed = self.tp.submit("fail", wait=True)
        self.assertEqual(self.tp.retry(failed["id"])["id"], failed["id"])
        self.assertEqual(self.tp.wait(failed["id"])["attempts"], 2)

    def test_errors_carry_the_code(self):
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.submit("no-such-task")
        self.assertEqual(e.exception.code, "no_such_task")
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.get("j-nope")
        self.assertEqual(e.exception.code, "no_such_job")
        self.assertTrue(self.tp.ping())  # the connection stays usable

    def test_a_failed_job_is_a_job_not_an_exception(self):
        job = self.tp.submit("fail", {"message": "boom"}, wait=True)
        self.assertEqual(job["state"], "failed")
        self.assertEqual(job["error"]["code"], "task_error")

    def test_kv(self):
        self.assertIsNone(self.tp.kv_get("py.k"))
        self.assertEqual(self.tp.kv_set("py.k", {"a": 1}), {"a": 1})
        self.assertEqual(self.tp.kv_incr("py.n", 5), 5)
        self.assertEqual(self.tp.kv_cas("py.n", 5, 6), (True, 6))
        self.assertEqual(self.tp.kv_cas("py.n", 5, 7), (False, 6))
        self.assertEqual(self.tp.kv_cas("py.absent", None, 1), (True, 1))
        self.assertEqual(self.tp.kv_del("py.k"), {"a": 1})

    def test_events(self):
        job = self.tp.submit("sleep", {"seconds": 0.1})
        self.tp.subscribe([job["id"]])
        for event in self.tp.events():
            if event["event"] == "job.finished":
                self.assertEqual(event["job"]["id"], job["id"])
                break

    def test_events_of_a_notified_submit(self):
        job = self.tp.submit("echo", "hi", notify=True)
        names = []
        for event in self.tp.events():
            self.assertEqual(event["job"]["id"], job["id"])
            names.append(event["event"])
            if event["event"] == "job.finished":
                break
        self.assertEqual(names, ["job.started", "job.finished"])

    def test_queues_and_pauses(self):
        queue = self.tp.set_queue("py.mail", max_concurrency=2, rate_limit="10/s")
        self.assertEqual((queue["max_concurrency"], queue["rate_limit"]), (2, "10/s"))
        self.assertEqual(self.tp.set_queue("py.mail", rate_limit=None)["max_concurrency"], 2)
        self.assertTrue(self.tp.pause(queue="py.mail")["paused"])
        job = self.tp.submit("echo", "held", queue="py.mail")
        self.assertEqual(self.tp.get(job["id"], wait=0.3)["state"], "queued")
        mail = [q for q in self.tp.queues() if q["name"] == "py.mail"][0]
        self.assertEqual((mail["paused"], mail["queued"]), (True, 1))
        self.assertFalse(self.tp.resume(queue="py.mail")["paused"])
        self.assertEqual(self.tp.get(job["id"], wait=10)["result"], "held")
        self.assertEqual(self.tp.pause(pool="process"), {"name": "process", "paused": True})
        self.assertTrue(self.tp.stats()["pools"]["process"]["paused"])
        self.tp.resume(pool="process")
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.set_queue("py.mail", rate_limit="0/s")
        self.assertIn("rate_limit", str(e.exception))

    def test_schedules(self):
        s = self.tp.set_schedule("py.tick", "echo", args={"n": 1}, every_s=1, priority=2)
        self.assertEqual((s["every_s"], s["options"]), (1, {"priority": 2}))
        self.assertTrue(wait_until(lambda: self.tp.schedules()[0]["last_job"]))
        job = self.tp.get(self.tp.schedules()[0]["last_job"], wait=10)
        self.assertEqual((job["schedule"], job["result"], job["priority"]),
                         ("py.tick", {"n": 1}, 2))
        nightly = self.tp.set_schedule("py.nightly", "echo", cron="0 3 * * *")
        self.assertTrue(nightly["next_at"].endswith("T03:00:00.000Z"))
        self.tp.delete_schedule("py.tick")
        self.tp.delete_schedule("py.nightly")
        self.assertEqual(self.tp.schedules(), [])
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.set_schedule("py.bad", "echo", cron="61 * * * *")
        self.assertIn("minute 61", str(e.exception))
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.delete_schedule("py.bad")
        self.assertEqual(e.exception.code, "no_such_schedule")

    def test_stats_and_tasks(self):
        self.assertIn("thread", self.tp.stats()["pools"])
        self.assertIn("echo", [t["name"] for t in self.tp.tasks()])

    def test_http_with_urllib(self):
        # No client at all: any HTTP library will do.
        base = "http://" + self.daemon.address
        body = json.dumps({"task": "echo", "args": "hi"}).encode()
        request = urllib.request.Request(base + "/v1/jobs?wait=10", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as r:
            self.assertEqual(json.load(r)["job"]["result"], "hi")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/v1/jobs/j-nope", timeout=30)
        self.assertEqual(e.exception.code, 404)
        self.assertEqual(json.load(e.exception)["error"]["code"], "no_such_job")


class FuturesTest(DaemonTestCase):
    """apply, apply_async and the futures they give."""

    config = {"thread_pool": {"size": 8}}

    def setUp(self):
        self.tp = taskpool.Client(self.daemon.address, timeout=30)

    def tearDown(self):
        self.tp.close()

    def test_apply(self):
        self.assertEqual(self.tp.apply("echo", {"a": [1, 2]}), {"a": [1, 2]})
        self.assertEqual(self.tp.apply("fib", {"n": 20}, pool="thread"), {"n": 20, "value": 6765})

    def test_apply_raises_job_failed(self):
        with self.assertRaises(taskpool.JobFailed) as e:
            self.tp.apply("fail", {"message": "boom"})
        self.assertEqual(e.exception.code, "task_error")
        self.assertEqual(e.exception.message, "boom")
        self.assertEqual(e.exception.job["state"], "failed")
        self.assertIsInstance(e.exception, taskpool.TaskpoolError)

    def test_a_refusal_raises_at_once(self):
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.apply_async("no-such-task")
        self.assertEqual(e.exception.code, "no_such_task")
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.apply_async("fib", {"n": 99})
        self.assertEqual(e.exception.code, "bad_request")
        self.assertNotIsInstance(e.exception, taskpool.JobFailed)

    def test_future(self):
        future = self.tp.apply_async("sleep", {"seconds": 0.3})
        self.assertRegex(future.job_id, r"^j-")
        self.assertFalse(future.done())
        with self.assertRaises(concurrent.futures.TimeoutError):
            future.result(timeout=0.01)
        self.assertEqual(future.result(timeout=30), {"slept": 0.3})
        self.assertTrue(future.done())
        self.assertIsNone(future.exception())
        self.assertEqual(future.job["state"], "succeeded")
        self.assertFalse(future.cancel())  # finished: nothing to cancel

    def test_exception(self):
        future = self.tp.apply_async("fail", {"message": "no luck"})
        error = future.exception(timeout=30)
        self.assertIsInstance(error, taskpool.JobFailed)
        self.assertEqual((error.code, error.message), ("task_error", "no luck"))
        self.assertEqual(error.job["id"], future.job_id)
        with self.assertRaises(taskpool.JobFailed):
            future.result()

    def test_cancel(self):
        future = self.tp.apply_async("sleep", {"seconds": 30})
        self.assertTrue(future.cancel())
        self.assertTrue(future.cancelled())
        with self.assertRaises(taskpool.JobCancelled) as e:
            future.result(timeout=30)
        self.assertEqual(e.exception.code, "cancelled")
        self.assertIsInstance(e.exception, concurrent.futures.CancelledError)
        self.assertEqual(self.tp.get(future.job_id)["state"], "cancelled")

    def test_callbacks_run_on_the_callback_thread(self):
        seen = []
        done = threading.Event()

        def callback(result):
            seen.append(("ok", result, threading.current_thread().name))

        def error_callback(error):
            seen.append(("error", error.message, threading.current_thread().name))
            done.set()

        ok = self.tp.apply_async("echo", 7, callback=callback, error_callback=error_callback)
        self.assertEqual(ok.result(timeout=30), 7)
        # As with Pool's AsyncResult, the callback has run once result() returns.
        self.assertEqual(seen, [("ok", 7, "taskpool-callbacks")])
        bad = self.tp.apply_async("fail", {"message": "boom"}, callback=callback,
                                  error_callback=error_callback)
        self.assertTrue(done.wait(30))
        self.assertEqual(seen[1], ("error", "boom", "taskpool-callbacks"))
        self.assertIsInstance(bad.exception(), taskpool.JobFailed)

    def test_add_done_callback(self):
        got = concurrent.futures.Future()
        future = self.tp.apply_async("echo", "x")
        future.add_done_callback(lambda f: got.set_result((f, threading.current_thread().name)))
        self.assertEqual(got.result(timeout=30), (future, "taskpool-callbacks"))
        # Added once done: still on the callback thread, not the caller's.
        again = concurrent.futures.Future()
        future.add_done_callback(lambda f: again.set_result(threading.current_thread().name))
        self.assertEqual(again.result(timeout=30), "taskpool-callbacks")

    def test_a_callback_may_use_the_client(self):
        got = concurrent.futures.Future()
        self.tp.apply_async("echo", 1,
                            callback=lambda r: got.set_result(self.tp.apply("echo", r + 1)))
        self.assertEqual(got.result(timeout=30), 2)

    def test_a_failing_callback_is_logged_and_the_future_still_ends(self):
        with self.assertLogs("taskpool", "ERROR"):
            future = self.tp.apply_async("echo", 1, callback=lambda r: 1 / 0)
            self.assertEqual(future.result(timeout=30), 1)

    def test_as_completed(self):
        futures = [self.tp.apply_async("sleep", {"seconds": s}) for s in (0.4, 0.0, 0.2)]
        order = [f.result() for f in concurrent.futures.as_completed(futures, timeout=30)]
        self.assertEqual(order, [{"slept": 0.0}, {"slept": 0.2}, {"slept": 0.4}])

    def test_a_job_finished_in_the_reply_resolves_at_once(self):
        # With wait, the daemon sends the job's events before the reply.
        future = self.tp.apply_async("echo", "now", wait=True)
        self.assertTrue(future.done())
        self.assertEqual(future.result(), "now")

    def test_two_futures_of_one_job(self):
        first = self.tp.apply_async("sleep", {"seconds": 0.2}, key="py-futures-same-key")
        second = self.tp.apply_async("sleep", {"seconds": 0.2}, key="py-futures-same-key")
        self.assertEqual(first.job_id, second.job_id)
        self.assertEqual(first.result(timeout=30), second.result(timeout=30))

    def test_webhook_is_the_protocol_callback(self):
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.apply_async("echo", 1, webhook={"url": "ftp://example.invalid/"})
        self.assertEqual(e.exception.code, "bad_request")
        self.assertIn("callback", e.exception.message)

    def test_threads_share_one_client(self):
        def work(n):
            results = [self.tp.apply("echo", [n, i]) for i in range(30)]
            futures = [self.tp.apply_async("echo", [n, i]) for i in range(30)]
            results += [f.result(timeout=30) for f in futures]
            results += self.tp.map("echo", [[n, i] for i in range(300)], chunksize=50)
            for _ in range(30):
                self.tp.kv_incr("py.threads")
            return results

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(work, range(8)))
        for n, results in enumerate(outcomes):
            expected = [[n, i] for i in range(30)] * 2 + [[n, i] for i in range(300)]
            self.assertEqual(results, expected)
        self.assertEqual(self.tp.kv_get("py.threads"), 8 * 30)


class MapTest(DaemonTestCase):
    """map, imap and imap_unordered."""

    config = {"thread_pool": {"size": 4}}

    def setUp(self):
        self.tp = taskpool.Client(self.daemon.address, timeout=30)

    def tearDown(self):
        self.tp.close()

    def test_a_hundred_thousand_items_in_order(self):
        started = time.monotonic()
        results = self.tp.map("echo", list(range(100000)))
        elapsed = time.monotonic() - started
        self.assertEqual(len(results), 100000)
        self.assertEqual(results, list(range(100000)))
        print("\n100000 items mapped in %.1f s" % elapsed)
        # All finished: none left queued by the window.
        self.assertEqual(self.tp.stats()["pools"]["thread"]["queued"], 0)

    def test_map_raises_the_first_failure(self):
        items = [{"seconds": 0}, {"seconds": 5}, {"seconds": 0}]
        with self.assertRaises(taskpool.JobFailed) as e:
            self.tp.map("sleep", items, timeout_s=0.3)
        self.assertEqual(e.exception.code, "timeout")

    def test_return_exceptions(self):
        items = [{"seconds": 0}, {"seconds": 5}, {"seconds": 0}]
        results = self.tp.map("sleep", items, timeout_s=0.3, return_exceptions=True)
        self.assertEqual(results[0], {"slept": 0})
        self.assertIsInstance(results[1], taskpool.JobFailed)
        self.assertEqual(results[1].code, "timeout")
        self.assertEqual(results[2], {"slept": 0})
        failed = self.tp.map("fail", [{"message": m} for m in "abc"], return_exceptions=True)
        self.assertEqual([e.message for e in failed], ["a", "b", "c"])

    def test_imap_unordered_yields_as_jobs_finish(self):
        items = [{"seconds": s} for s in (0.6, 0.0, 0.3)]
        results = list(self.tp.imap_unordered("sleep", items))
        self.assertEqual(results, [{"slept": 0.0}, {"slept": 0.3}, {"slept": 0.6}])

    def test_imap_yields_in_order_and_reads_lazily(self):
        read = []

        def items():
            for n in range(2500):
                read.append(n)
                yield n

        results = self.tp.imap("echo", items(), chunksize=100)
        self.assertEqual(next(results), 0)
        self.assertLess(len(read), 2500)  # only the chunks of the window went out
        self.assertEqual(list(results), list(range(1, 2500)))

    def test_large_items_go_in_several_requests(self):
        items = ["%05d" % i + "x" * 20000 for i in range(100)]  # 2 MB in all
        self.assertEqual(self.tp.map("echo", items), items)

    def test_chunks(self):
        self.assertEqual([(first, len(c)) for first, c in chunks(range(2500), 1000)],
                         [(0, 1000), (1000, 1000), (2000, 500)])
        big = "x" * (CHUNK_BYTES // 3)
        self.assertEqual([len(c) for _, c in chunks([big] * 5, 1000)], [2, 2, 1])
        huge = "x" * (2 * CHUNK_BYTES)
        self.assertEqual([len(c) for _, c in chunks([huge, 1, 2, huge], 1000)], [1, 2, 1])
        self.assertEqual(list(chunks([], 1000)), [])

    def test_a_refused_request_names_its_items(self):
        items = [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 99}]
        with self.assertRaises(taskpool.TaskpoolError) as e:
            self.tp.map("fib", items, chunksize=2, pool="thread")
        self.assertEqual(e.exception.code, "bad_request")
        self.assertIn("items 2 to 3", e.exception.message)
        self.assertIn("items[1]", e.exception.message)

    def test_an_empty_map(self):
        self.assertEqual(self.tp.map("echo", []), [])


class ConnectionTest(unittest.TestCase):
    """The connection's ends: closed by us, closed by the daemon."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon({"limits": {"max_message_bytes": 4096}})

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_close_fails_pending_futures_and_stops_the_threads(self):
        tp = taskpool.Client(self.daemon.address, timeout=30)
        errors = []
        future = tp.apply_async("sleep", {"seconds": 30}, error_callback=errors.append)
        tp.close()
        self.assertIsInstance(future.exception(timeout=30), taskpool.ConnectionClosed)
        self.assertEqual(errors, [future.exception()])  # ran before close() returned
        names = [t.name for t in threading.enumerate()]
        self.assertNotIn("taskpool-reader", names)
        self.assertNotIn("taskpool-callbacks", names)
        with self.assertRaises(taskpool.ConnectionClosed):
            tp.ping()
        tp.close()  # twice is harmless
        with taskpool.Client(self.daemon.address, timeout=30) as other:
            other.cancel(future.job_id)

    def test_the_daemon_closing_fails_pending_futures(self):
        with taskpool.Client(self.daemon.address, timeout=30) as tp:
            failed = concurrent.futures.Future()
            future = tp.apply_async("sleep", {"seconds": 30}, bind=True,
                                    error_callback=failed.set_result)
            # A line over limits.max_message_bytes: the daemon says so, then closes.
            with self.assertRaises(taskpool.ConnectionClosed) as e:
                tp.call("ping", padding="x" * 8192)
            self.assertEqual(e.exception.code, "message_too_large")
            self.assertIsInstance(e.exception, ConnectionError)
            error = future.exception(timeout=30)
            self.assertIsInstance(error, taskpool.ConnectionClosed)
            self.assertIs(failed.result(timeout=30), error)
            with self.assertRaises(taskpool.ConnectionClosed):
                tp.apply_async("echo", 1)
            with self.assertRaises(taskpool.ConnectionClosed):
                list(tp.imap("echo", [1, 2]))
            with self.assertRaises(taskpool.ConnectionClosed):
                next(tp.events())
        # bind: the job went with its connection.
        with taskpool.Client(self.daemon.address, timeout=30) as other:
            self.assertEqual(other.wait(future.job_id, 10)["state"], "cancelled")

    def test_a_dead_daemon_fails_pending_futures(self):
        daemon = Daemon()
        try:
            tp = taskpool.Client(daemon.address, timeout=30)
            future = tp.apply_async("sleep", {"seconds": 30})
            daemon.process.kill()
            self.assertIsInstance(future.exception(timeout=30), taskpool.ConnectionClosed)
            tp.close()
        finally:
            daemon.stop()


class FramesTest(unittest.TestCase):
    """A worker's pool process pipe: messages as frames, however the bytes come."""

    def test_frames_split_and_joined_anywhere(self):
        messages = [("progress", {"n": n}) for n in range(3)] + [("done", "x" * 100000), None]
        data = b"".join(frame(m) for m in messages)
        for step in (1, 7, 4096, len(data)):
            frames = Frames()
            got = []
            for start in range(0, len(data), step):
                got += frames.feed(data[start:start + step])
            self.assertEqual(got, messages, "in pieces of %d bytes" % step)


class FakeDaemon:
    """A listener that answers hello with `protocol` and nothing else: for what
    the real daemon cannot be made to do (speak another version, stay silent)."""

    def __init__(self, protocol):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        self.protocol = protocol
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as lines:
            hello = json.loads(lines.readline())
            conn.sendall(json.dumps({"id": hello["id"], "ok": True, "server": "fake",
                                     "protocol": self.protocol}).encode() + b"\n")
            for _ in lines:
                pass  # silence

    def close(self):
        self.listener.close()


class ProtocolTest(unittest.TestCase):
    def test_protocol_1_and_2_are_spoken(self):
        for version in (1, 2):
            fake = FakeDaemon(version)
            with taskpool.Client(fake.address, timeout=5) as tp:
                self.assertEqual(tp.server["protocol"], version)
            fake.close()

    def test_another_protocol_is_refused(self):
        fake = FakeDaemon(3)
        with self.assertRaises(taskpool.TaskpoolError) as e:
            taskpool.Client(fake.address, timeout=5)
        self.assertIn("protocol 3", e.exception.message)
        fake.close()

    def test_timeout(self):
        fake = FakeDaemon(1)
        with taskpool.Client(fake.address, timeout=0.2) as tp:
            with self.assertRaises(TimeoutError):
                tp.ping()
            with self.assertRaises(TimeoutError):
                next(tp.events())
        fake.close()


class Certificates:
    """A CA and what it signed, made with the openssl command: the daemon's
    certificate (for 127.0.0.1) and a client's (alice); and another CA, with a
    client certificate of its own (mallory)."""

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory()
        self._ca("ca", "taskpool test CA")
        self._ca("other-ca", "another CA")
        self._leaf("server", "127.0.0.1",
                   "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        self._leaf("client", "alice", "extendedKeyUsage=clientAuth\n")
        self._leaf("stranger", "mallory", "extendedKeyUsage=clientAuth\n", ca="other-ca")
        with open(self.path("client-and-key.pem"), "w") as f:
            for name in ("client.pem", "client.key"):
                with open(self.path(name)) as part:
                    f.write(part.read())

    def path(self, name):
        return os.path.join(self._dir.name, name)

    def cleanup(self):
        self._dir.cleanup()

    def _ca(self, name, subject):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.path(name + ".key"),
                      "-out", self.path(name + ".pem"), "-days", "2", "-subj", "/CN=" + subject,
                      # Python 3.13 verifies strictly: a CA without key usage is none.
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _leaf(self, name, subject, extensions, ca="ca"):
        with open(self.path(name + ".ext"), "w") as f:
            f.write(extensions)
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", self.path(name + ".key"), "-out", self.path(name + ".csr"),
                      "-subj", "/CN=" + subject)
        self._openssl("x509", "-req", "-in", self.path(name + ".csr"),
                      "-CA", self.path(ca + ".pem"), "-CAkey", self.path(ca + ".key"),
                      "-CAcreateserial", "-days", "2", "-extfile", self.path(name + ".ext"),
                      "-out", self.path(name + ".pem"))

    @staticmethod
    def _openssl(*args):
        run = subprocess.run(("openssl",) + args, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (args[0], run.stderr))


class TlsTest(unittest.TestCase):
    """TLS: a daemon with tls.cert and tls.key, and one with tls.client_ca too."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Certificates()
        tls = {"cert": cls.certs.path("server.pem"), "key": cls.certs.path("server.key")}
        cls.daemon = Daemon({"tls": tls, "thread_pool": {"size": 8}})
        cls.address = "tls://" + cls.daemon.address
        cls.mtls = Daemon({"tls": dict(tls, client_ca=cls.certs.path("ca.pem"))})
        cls.mtls_address = "tls://" + cls.mtls.address

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        cls.mtls.stop()
        cls.certs.cleanup()

    def client(self, address=None, **options):
        options.setdefault("ca", self.certs.path("ca.pem"))
        return taskpool.Client(address or self.address, timeout=30, **options)

    def test_jobs_map_and_events_over_tls(self):
        with self.client() as tp:
            self.assertEqual(tp.server["server"], "taskpoold")
            self.assertEqual(tp.apply("echo", {"a": [1, 2]}), {"a": [1, 2]})
            self.assertEqual(tp.submit("echo", "hi", wait=True)["result"], "hi")
            self.assertEqual(tp.map("echo", range(3000), chunksize=500), list(range(3000)))
            called = concurrent.futures.Future()
            future = tp.apply_async("fib", {"n": 20}, callback=called.set_result)
            self.assertEqual(called.result(timeout=30), {"n": 20, "value": 6765})
            self.assertEqual(future.result(), {"n": 20, "value": 6765})
            job = tp.submit("sleep", {"seconds": 0.1})
            tp.subscribe([job["id"]])
            for event in tp.events():
                if event["event"] == "job.finished":
                    self.assertEqual(event["job"]["id"], job["id"])
                    break

    def test_a_worker_over_tls(self):
        worker = taskpool.Worker(self.address, ca=self.certs.path("ca.pem"))
        worker.task("py.tls")(lambda args: {"over": args})
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            self.assertTrue(worker.wait_registered(30))
            with self.client() as tp:
                self.assertEqual(tp.apply("py.tls", "tls"), {"over": "tls"})
        finally:
            worker.stop()
            thread.join(30)

    def test_the_address_and_ca_from_the_environment(self):
        with mock.patch.dict(os.environ, {"TASKPOOL_ADDR": self.address,
                                          "TASKPOOL_CA": self.certs.path("ca.pem")}):
            with taskpool.Client(timeout=30) as tp:
                self.assertEqual(tp.apply("echo", "env"), "env")
            # tls=True makes TLS of a host:port address.
            with taskpool.Client(self.daemon.address, tls=True, timeout=30) as tp:
                self.assertTrue(tp.ping())

    def test_threads_share_one_tls_connection(self):
        # The reader reads while these threads write: were OpenSSL's reads and
        # writes on one connection not kept apart, its records would garble.
        big = "x" * 1000000
        with self.client() as tp:
            def apply_async(n):
                futures = [tp.apply_async("echo", [n, i]) for i in range(200)]
                return [f.result(timeout=60) for f in futures]

            def echo_big(n):
                return tp.apply("echo", "%d%s" % (n, big)) == "%d%s" % (n, big)

            with concurrent.futures.ThreadPoolExecutor(12) as pool:
                applied = [pool.submit(apply_async, n) for n in range(8)]
                mapped = pool.submit(tp.map, "echo", range(5000))
                echoed = [pool.submit(echo_big, n) for n in range(3)]
                for n, results in enumerate(applied):
                    self.assertEqual(results.result(), [[n, i] for i in range(200)])
                self.assertEqual(mapped.result(), list(range(5000)))
                self.assertEqual([e.result() for e in echoed], [True] * 3)
            self.assertTrue(tp.ping())

    def test_an_untrusted_ca_is_refused_with_what_to_do(self):
        for ca in (self.certs.path("other-ca.pem"), None):  # None: the system's CAs
            with self.subTest(ca=ca), mock.patch.dict(os.environ, {"TASKPOOL_CA": ""}):
                with self.assertRaises(taskpool.ConnectionClosed) as e:
                    taskpool.Client(self.address, ca=ca, tls=True, timeout=30)
                self.assertIn("TLS handshake with %s failed: certificate verify failed"
                              % self.daemon.address, e.exception.message)
                self.assertIn("pass ca= or set TASKPOOL_CA", e.exception.message)
                self.assertIsInstance(e.exception.__cause__, ssl.SSLCertVerificationError)

    def test_the_daemon_name_is_verified(self):
        with self.assertRaises(taskpool.ConnectionClosed) as e:
            self.client("tls://localhost:%d" % self.daemon.port)
        self.assertIn("not valid for 'localhost'", e.exception.message)

    def test_a_client_certificate_is_required_where_the_daemon_asks(self):
        # With TLS 1.3 the client's handshake is over before the daemon looks
        # at its certificate: the refusal comes as the reply to hello would.
        started = time.monotonic()
        with self.assertRaises(taskpool.ConnectionClosed) as e:
            self.client(self.mtls_address)
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn("certificate required", e.exception.message)
        self.assertIn("pass cert= and key=", e.exception.message)
        with self.assertRaises(taskpool.ConnectionClosed) as e:
            self.client(self.mtls_address, cert=self.certs.path("stranger.pem"),
                        key=self.certs.path("stranger.key"))
        self.assertIn("refused the client certificate", e.exception.message)
        names = [t.name for t in threading.enumerate()]
        self.assertNotIn("taskpool-reader", names)

    def test_a_client_certificate_is_accepted(self):
        with self.client(self.mtls_address, cert=self.certs.path("client.pem"),
                         key=self.certs.path("client.key")) as tp:
            self.assertEqual(tp.apply("echo", "alice"), "alice")
        with self.client(self.mtls_address, cert=self.certs.path("client-and-key.pem")) as tp:
            self.assertTrue(tp.ping())
        with mock.patch.dict(os.environ, {"TASKPOOL_CERT": self.certs.path("client.pem"),
                                          "TASKPOOL_KEY": self.certs.path("client.key")}):
            with self.client(self.mtls_address) as tp:
                self.assertTrue(tp.ping())

    def test_a_cert_and_its_key_go_together(self):
        with self.assertRaises(ValueError) as e:
            self.client(self.mtls_address, cert=self.certs.path("client.pem"))
        self.assertIn("holds no private key: pass key=", str(e.exception))
        with self.assertRaises(ValueError) as e:
            self.client(self.mtls_address, key=self.certs.path("client.key"))
        self.assertIn("pass cert=", str(e.exception))
        with self.assertRaises(ValueError) as e:
            self.client(self.mtls_address, cert=self.certs.path("client.pem"),
                        key=self.certs.path("stranger.key"))
        self.assertIn("key values mismatch", str(e.exception))

    def test_an_ssl_context_of_ones_own(self):
        context = taskpool.tls_context(ca=self.certs.path("ca.pem"))
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        # ca, cert and key are not used along with it.
        with self.client(self.daemon.address, ssl_context=context,
                         ca=self.certs.path("other-ca.pem")) as tp:
            self.assertTrue(tp.ping())

    def test_close_while_a_wait_is_pending_returns_promptly(self):
        tp = self.client()
        future = tp.apply_async("sleep", {"seconds": 30})
        with concurrent.futures.ThreadPoolExecutor(1) as waiter:
            waiting = waiter.submit(tp.wait, future.job_id)
            time.sleep(0.2)  # for the wait to be sent, and the reader waiting
            started = time.monotonic()
            tp.close()
            self.assertLess(time.monotonic() - started, 5)
            with self.assertRaises(taskpool.ConnectionClosed):
                waiting.result(timeout=30)
        self.assertIsInstance(future.exception(timeout=30), taskpool.ConnectionClosed)
        self.assertNotIn("taskpool-reader", [t.name for t in threading.enumerate()])
        with self.client() as other:
            other.cancel(future.job_id)

    def test_plaintext_to_a_tls_port_fails_clearly(self):
        started = time.monotonic()
        with self.assertRaises(taskpool.ConnectionClosed) as e:
            taskpool.Client("tcp://" + self.daemon.address, timeout=30)
        self.assertLess(time.monotonic() - started, 10)
        self.assertIn("if it serves TLS, use a tls:// address", e.exception.message)

    def test_tls_to_a_plaintext_port_fails_clearly(self):
        plain = Daemon()
        try:
            with self.assertRaises(taskpool.ConnectionClosed) as e:
                self.client("tls://" + plain.address)
            self.assertIn("does it serve TLS?", e.exception.message)
        finally:
            plain.stop()

    def test_the_handshake_is_bounded_by_the_timeout(self):
        with socket.create_server(("127.0.0.1", 0)) as silent:  # never says a word
            started = time.monotonic()
            with self.assertRaises(TimeoutError) as e:
                taskpool.Client("tls://127.0.0.1:%d" % silent.getsockname()[1],
                                ca=self.certs.path("ca.pem"), timeout=0.3)
            self.assertLess(time.monotonic() - started, 5)
            self.assertIn("TLS handshake", str(e.exception))


class EnvironmentTest(unittest.TestCase):
    def test_token_from_the_environment(self):
        daemon = Daemon({"auth": {"token": "s3cret"}})
        try:
            with self.assertRaises(taskpool.TaskpoolError) as e:
                taskpool.connect(daemon.address, token="wrong", timeout=30)
            self.assertEqual(e.exception.code, "unauthorized")
            os.environ["TASKPOOL_TOKEN"] = "s3cret"
            try:
                with taskpool.connect(daemon.address, timeout=30) as tp:
                    self.assertTrue(tp.ping())
            finally:
                del os.environ["TASKPOOL_TOKEN"]
        finally:
            daemon.stop()

    def test_address_from_the_environment(self):
        daemon = Daemon()
        os.environ["TASKPOOL_ADDR"] = daemon.address
        try:
            with taskpool.Client(timeout=30) as tp:
                self.assertEqual(tp.apply("echo", "here"), "here")
        finally:
            del os.environ["TASKPOOL_ADDR"]
            daemon.stop()

    def test_the_version_is_the_products(self):
        with open(os.path.join(HERE, "..", "..", "proto", "version.hpp")) as f:
            product = re.search(r'product_version = "([0-9.]+)"', f.read()).group(1)
        self.assertEqual(taskpool.__version__, product)


# Task functions for WorkerTest's pool processes: at the module's top level,
# where a spawned process finds them by name.

def fib_in_a_process(args, job):
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    job.progress({"n": args["n"]})
    return {"pid": os.getpid(), "value": fib(args["n"])}


def nap_in_a_process(seconds):
    time.sleep(seconds)


def size_in_a_process(text):
    return len(text)


def die_in_a_process(seconds):
    time.sleep(seconds or 0)
    os._exit(3)


def wait_for_cancel_in_a_process(args, job):
    cancelled = job.wait_cancelled(30)
    with taskpool.Client(args["address"], timeout=30) as tp:
        tp.kv_set(args["key"], {"cancelled": cancelled, "flag": job.cancelled})
    return "stopped early"


def wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("still not so after %s s" % timeout)
        time.sleep(0.02)


class WorkerTest(DaemonTestCase):
    """taskpool.Worker: Python functions as tasks of a remote worker."""

    config = {"workers": {"heartbeat_s": 0.5, "cancel_grace_s": 2}}

    def setUp(self):
        self.tp = taskpool.Client(self.daemon.address, timeout=30)

    def tearDown(self):
        self.tp.close()

    def serve(self, worker, **options):
        """worker.run(**options) on a thread, registered; stopped when the test ends."""
        thread = threading.Thread(target=worker.run, kwargs=options, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 30)
        self.addCleanup(worker.stop, False)
        self.assertTrue(worker.wait_registered(30))
        return thread

    def running(self, job_id):
        wait_for(lambda: self.tp.get(job_id)["state"] == "running")

    def test_a_job_runs_on_the_worker(self):
        worker = taskpool.Worker(self.daemon.address, name="py-worker")

        @worker.task("py.scale", description="doubles a width")
        def scale(args):
            return {"w": args["w"] * 2}

        @worker.task
        def py_named_after_the_function(args):
            return "named"

        self.serve(worker, concurrency=2)
        self.assertRegex(worker.id, r"^w-")
        tasks = {t["name"]: t for t in self.tp.tasks()}
        self.assertEqual(tasks["py.scale"]["description"], "doubles a width")
        self.assertEqual(tasks["py.scale"]["kind"], "remote")
        job = self.tp.submit("py.scale", {"w": 320}, wait=True)
        self.assertEqual(job["state"], "succeeded")
        self.assertEqual(job["result"], {"w": 640})
        self.assertEqual(job["worker"], {"id": worker.id, "name": "py-worker"})
        self.assertEqual(self.tp.map("py.scale", [{"w": w} for w in range(20)]),
                         [{"w": 2 * w} for w in range(20)])
        self.assertEqual(self.tp.apply("py_named_after_the_function"), "named")

    def test_the_job_context_and_progress(self):
        worker = taskpool.Worker(self.daemon.address)

        @worker.task("py.count")
        def count(args, job):
            for i in range(1, args + 1):
                job.progress({"done": i})
                time.sleep(0.005)
            return {"id": job.id, "task": job.task, "attempt": job.attempt,
                    "timeout_s": job.timeout_s, "cancelled": job.cancelled}

        self.serve(worker)
        job = self.tp.submit("py.count", 100, notify=True)
        progress = []
        for event in self.tp.events():
            if event["event"] == "job.progress":
                progress.append(event["progress"])
            elif event["event"] == "job.finished":
                result = event["job"]["result"]
                break
        self.assertEqual(result, {"id": job["id"], "task": "py.count", "attempt": 1,
                                  "timeout_s": None, "cancelled": False})
        # About 20 a second get through, the last of them before the outcome.
        self.assertGreater(len(progress), 2)
        self.assertLess(len(progress), 40)
        self.assertEqual(progress[-1], {"done": 100})
        self.assertEqual(self.tp.get(job["id"])["progress"], {"done": 100})

    def test_failures_are_reported(self):
        worker = taskpool.Worker(self.daemon.address, max_result_bytes=1000)

        @worker.task("py.raise")
        def fails(args):
            raise ValueError(args)

        @worker.task("py.set")
        def no_json(args):
            return {1, 2}

        @worker.task("py.huge")
        def huge(args):
            return "x" * 2000

        self.serve(worker, concurrency=2)
        with self.assertLogs("taskpool.worker", "WARNING") as logs:
            with self.assertRaises(taskpool.JobFailed) as e:
                self.tp.apply("py.raise", "bad size", retries=1)
        self.assertEqual((e.exception.code, e.exception.message),
                         ("task_error", "ValueError: bad size"))
        self.assertEqual(e.exception.job["attempts"], 2)  # retried, and failed again
        # The daemon keeps no traceback: the worker's log has it.
        self.assertIn("failed: ValueError: bad size\nTraceback", logs.output[0])
        self.assertIn("in fails\n", logs.output[0])
        with self.assertLogs("taskpool.worker", "WARNING"):
            with self.assertRaises(taskpool.JobFailed) as e:
                self.tp.apply("py.set")
            self.assertEqual(e.exception.message, "TypeError: the result is not JSON: Object "
                                                  "of type set is not JSON serializable")
            with self.assertRaises(taskpool.JobFailed) as e:
                self.tp.apply("py.huge")
            self.assertEqual(e.exception.message, "ResultTooLarge: result too large: 2002 "
                                                  "bytes over the limit 1000")
            # Whatever an exception says, its report stays a line the daemon takes.
            with self.assertRaises(taskpool.JobFailed) as e:
                self.tp.apply("py.raise", "y" * 20000)
            self.assertTrue(e.exception.message.endswith("[11808 characters cut]"))
        self.assertTrue(worker.wait_registered(0))  # still connected

    def test_the_traceback_goes_in_details(self):
        try:
            raise KeyError("k" * 10000)
        except KeyError as error:
            op, fields = taskpool.context.failure(error)
        self.assertEqual(op, "job.fail")
        self.assertEqual(fields["error"]["type"], "KeyError")
        traceback = fields["error"]["details"]["traceback"]
        self.assertTrue(traceback.startswith("[1"), traceback[:50])
        self.assertTrue(traceback.endswith("kkk'\n"))
        self.assertLessEqual(len(traceback), 8192 + 30)

    def test_cancel_and_timeout_reach_the_function(self):
        worker = taskpool.Worker(self.daemon.address)
        seen = []
        told = threading.Event()

        @worker.task("py.wait")
        def wait(args, job):
            seen.append((job.wait_cancelled(30), job.cancelled))
            told.set()
            return "stopped early"

        @worker.task("py.echo")
        def echo(args):
            return args

        self.serve(worker, concurrency=1)
        future = self.tp.apply_async("py.wait")
        self.running(future.job_id)
        self.assertTrue(future.cancel())
        self.assertTrue(told.wait(10))
        self.assertEqual(seen, [(True, True)])
        # Its report freed the only slot.
        self.assertEqual(self.tp.apply("py.echo", 1), 1)
        self.assertEqual(self.tp.get(future.job_id)["state"], "cancelled")
        job = self.tp.submit("py.wait", timeout_s=0.3, wait=True)
        self.assertEqual(job["error"]["code"], "timeout")
        wait_for(lambda: len(seen) == 2)
        self.assertEqual(self.tp.apply("py.echo", 2), 2)

    def test_no_more_jobs_at_once_than_the_concurrency(self):
        worker = taskpool.Worker(self.daemon.address)
        lock = threading.Lock()
        running = [0, 0]  # now, at most

        @worker.task("py.slow")
        def slow(args):
            with lock:
                running[0] += 1
                running[1] = max(running)
            time.sleep(0.3)
            with lock:
                running[0] -= 1
            return threading.current_thread().name

        self.serve(worker, concurrency=2)
        started = time.monotonic()
        threads = self.tp.map("py.slow", range(4))
        self.assertGreaterEqual(time.monotonic() - started, 0.6)
        self.assertEqual(running[1], 2)
        self.assertEqual(len(set(threads)), 2)

    def test_heartbeats_keep_a_busy_worker(self):
        # Busy for longer than three heartbeats (1.5 s), with nothing to report.
        worker = taskpool.Worker(self.daemon.address)
        worker.task("py.long")(lambda args: time.sleep(args))
        self.serve(worker)
        self.assertIsNone(self.tp.apply("py.long", 1.8))
        names = [w["name"] for w in self.tp.stats()["pools"]["remote"]["workers"]]
        self.assertIn(worker.name, names)

    def test_processes(self):
        worker = taskpool.Worker(self.daemon.address)
        worker.task("py.fib")(fib_in_a_process)
        worker.task("py.cancel-in-a-process")(wait_for_cancel_in_a_process)
        self.serve(worker, processes=2)
        results = self.tp.map("py.fib", [{"n": 22}] * 4)
        self.assertEqual([r["value"] for r in results], [17711] * 4)
        pids = {r["pid"] for r in results}
        self.assertNotIn(os.getpid(), pids)
        self.assertLessEqual(len(pids), 2)
        job = self.tp.submit("py.fib", {"n": 5}, wait=True)
        self.assertEqual(job["progress"], {"n": 5})

        future = self.tp.apply_async("py.cancel-in-a-process",
                                     {"address": self.daemon.address, "key": "py.cancelled"})
        self.running(future.job_id)
        future.cancel()
        wait_for(lambda: self.tp.kv_get("py.cancelled") is not None)
        self.assertEqual(self.tp.kv_get("py.cancelled"), {"cancelled": True, "flag": True})

        other = taskpool.Worker(self.daemon.address)
        other.task("py.local")(lambda args: args)
        with self.assertRaises(ValueError) as e:
            other.run(processes=1)
        self.assertIn("top level", str(e.exception))

    def test_a_process_that_dies_fails_its_job_alone(self):
        worker = taskpool.Worker(self.daemon.address)
        worker.task("py.die")(die_in_a_process)
        worker.task("py.fib")(fib_in_a_process)
        self.serve(worker, processes=2, prefetch=2)
        slow = self.tp.apply_async("py.fib", {"n": 24})
        with self.assertLogs("taskpool.worker", "WARNING") as logs:
            with self.assertRaises(taskpool.JobFailed) as e:
                self.tp.apply("py.die", None)
        self.assertEqual(e.exception.job["error"]["message"],
                         "ProcessDied: the process running the job exited with status 3")
        self.assertIn("a new one takes its place", "\n".join(logs.output))
        # The other process's job goes on; a new process takes the next ones.
        self.assertEqual(slow.result(30)["value"], 46368)
        results = self.tp.map("py.fib", [{"n": 5}] * 4)
        self.assertEqual([r["value"] for r in results], [5] * 4)

    def test_the_jobs_a_dead_process_had_not_begun_run_in_its_successor(self):
        worker = taskpool.Worker(self.daemon.address)
        worker.task("py.die")(die_in_a_process)
        worker.task("py.fib")(fib_in_a_process)
        self.serve(worker, processes=1, prefetch=3)
        with self.assertLogs("taskpool.worker", "WARNING"):
            dying = self.tp.apply_async("py.die", 1)
            self.running(dying.job_id)
            # Sent to the one process while it sleeps, behind the job that kills it.
            held = [self.tp.apply_async("py.fib", {"n": 5}) for _ in range(2)]
            for future in held:
                self.running(future.job_id)
            with self.assertRaises(taskpool.JobFailed):
                dying.result(30)
        self.assertEqual([f.result(30)["value"] for f in held], [5, 5])
        for future in held:
            self.assertEqual(self.tp.get(future.job_id)["attempts"], 1)

    def test_processes_that_cannot_start_are_started_again_ever_more_slowly(self):
        # Pool processes that die before they finish a job (here: their task's
        # module exits as they import it) must not have the worker spawn them
        # in a loop.
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        with open(os.path.join(folder, "exits_in_a_child.py"), "w") as f:
            f.write("import os\n"
                    "if os.getpid() != %d:\n"
                    "    os._exit(3)\n"
                    "def task(args):\n"
                    "    return args\n" % os.getpid())
        sys.path.insert(0, folder)
        self.addCleanup(sys.path.remove, folder)
        self.addCleanup(sys.modules.pop, "exits_in_a_child", None)
        import exits_in_a_child
        worker = taskpool.Worker(self.daemon.address)
        worker.task("py.never")(exits_in_a_child.task)
        with self.assertLogs("taskpool.worker", "WARNING") as logs:
            self.serve(worker, processes=1)
            job = self.tp.submit("py.never", 1)
            wait_for(lambda: "its place in 0.4 s" in "\n".join(logs.output), timeout=30)
        delays = [re.search(r"its place in ([0-9.]+) s", line).group(1) for line in logs.output
                  if "before it finished a job" in line]
        self.assertEqual(delays[:3], ["0.1", "0.2", "0.4"])
        # No process ever began the job, so none failed it: it waits for one that starts.
        self.assertEqual(self.tp.get(job["id"])["state"], "running")

    def test_big_args_wait_for_a_busy_process_without_stalling_the_worker(self):
        # Held behind a job that outlasts three heartbeats, 200 KB of args each
        # could not be written to the busy process's pipe: the worker must go
        # on reading and answering meanwhile, or the daemon takes it for lost.
        worker = taskpool.Worker(self.daemon.address)
        worker.task("py.nap")(nap_in_a_process)
        worker.task("py.size")(size_in_a_process)
        self.serve(worker, processes=1, prefetch=4)
        nap = self.tp.apply_async("py.nap", 2)
        self.running(nap.job_id)
        sizes = [self.tp.apply_async("py.size", "x" * 200000) for _ in range(3)]
        self.assertEqual([f.result(30) for f in sizes], [200000] * 3)
        nap.result(30)
        for future in [nap] + sizes:
            self.assertEqual(self.tp.get(future.job_id)["attempts"], 1)

    def test_reconnects_to_a_restarted_daemon(self):
        first = Daemon(self.config)
        self.addCleanup(first.stop)
        worker = taskpool.Worker(first.address)
        worker.task("py.again")(lambda args: args)
        with self.assertLogs("taskpool.worker", "WARNING") as logs:
            thread = self.serve(worker)
            with taskpool.Client(first.address, timeout=30) as tp:
                self.assertEqual(tp.apply("py.again", 1), 1)
            first.process.kill()
            first.process.wait()
            second = Daemon(self.config, port=first.port)
            self.addCleanup(second.stop)
            with taskpool.Client(second.address, timeout=30) as tp:
                wait_for(lambda: "py.again" in [t["name"] for t in tp.tasks()])
                self.assertEqual(tp.apply("py.again", 2), 2)
        self.assertIn("lost the connection to taskpoold", "\n".join(logs.output))
        worker.stop()  # before the second daemon stops: no connection lost again
        thread.join(30)

    def test_a_drain_finishes_the_jobs_held_and_takes_no_more(self):
        worker = taskpool.Worker(self.daemon.address)
        release = threading.Event()

        @worker.task("py.hold")
        def hold(args):
            release.wait(30)
            return args

        thread = self.serve(worker, concurrency=1)
        held = self.tp.apply_async("py.hold", 1)
        queued = self.tp.submit("py.hold", 2)
        self.running(held.job_id)
        worker.stop(drain=True)
        release.set()
        thread.join(30)
        self.assertFalse(thread.is_alive())
        self.assertEqual(held.result(timeout=30), 1)
        self.assertEqual(self.tp.get(queued["id"])["state"], "queued")
        self.tp.cancel(queued["id"])

    def test_a_drain_is_bounded_by_drain_timeout(self):
        worker = taskpool.Worker(self.daemon.address)
        release = threading.Event()
        worker.task("py.stuck")(lambda args: release.wait(30))
        self.addCleanup(release.set)
        thread = self.serve(worker, drain_timeout=0.3)
        job = self.tp.submit("py.stuck")
        self.running(job["id"])
        with self.assertLogs("taskpool.worker", "WARNING") as logs:
            worker.stop(drain=True)
            thread.join(10)
        self.assertFalse(thread.is_alive())
        self.assertIn("drain_timeout (0.3 s) is up", logs.output[0])
        self.assertEqual(self.tp.wait(job["id"], 10)["error"]["code"], "worker_lost")

    def test_a_refused_registration_raises(self):
        worker = taskpool.Worker(self.daemon.address)
        worker.task("echo")(lambda args: args)  # a builtin task's name
        with self.assertRaises(taskpool.TaskpoolError) as e:
            worker.run()
        self.assertEqual(e.exception.code, "bad_request")

        tokens = [{"name": "ci", "token": "submit-only", "scopes": ["submit"]},
                  {"name": "w", "token": "worker-token", "scopes": ["worker"]}]
        daemon = Daemon({"auth": {"tokens": tokens}})
        self.addCleanup(daemon.stop)
        for token, code in (("wrong", "unauthorized"), ("submit-only", "forbidden")):
            worker = taskpool.Worker(daemon.address, token)
            worker.task("py.scoped")(lambda args: args)
            with self.assertRaises(taskpool.TaskpoolError) as e:
                worker.run()
            self.assertEqual(e.exception.code, code)
        worker = taskpool.Worker(daemon.address, "worker-token")
        worker.task("py.scoped")(lambda args: args)
        self.serve(worker)

    def test_signals_drain_then_stop(self):
        script = ("import sys, time, taskpool\n"
                  "worker = taskpool.Worker(sys.argv[1])\n"
                  "worker.task('py.signalled')(lambda seconds: time.sleep(seconds) or 'slept')\n"
                  "worker.run()\n"
                  "print('returned')\n")
        env = dict(os.environ, PYTHONPATH=HERE)

        def start():
            process = subprocess.Popen([sys.executable, "-c", script, self.daemon.address],
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
            self.addCleanup(process.kill)
            return process

        # SIGTERM: the job running finishes and is reported, then run() returns.
        process = start()
        wait_for(lambda: "py.signalled" in [t["name"] for t in self.tp.tasks()])
        job = self.tp.submit("py.signalled", 0.5)
        self.running(job["id"])
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        self.assertEqual((process.returncode, out), (0, "returned\n"), err)
        self.assertIn("SIGTERM: draining", err)
        self.assertEqual(self.tp.get(job["id"])["result"], "slept")

        # SIGINT twice: the second stops at once, leaving the job to the daemon.
        process = start()
        wait_for(lambda: self.tp.stats()["pools"]["remote"]["workers"])
        job = self.tp.submit("py.signalled", 30)
        self.running(job["id"])
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        # Two signals that come before Python runs the handler are one.
        self.assertIn("SIGINT: draining", process.stderr.readline())
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        self.assertEqual((process.returncode, out), (0, "returned\n"), err)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("SIGINT again: stopping at once", err)
        self.assertEqual(self.tp.wait(job["id"], 10)["error"]["code"], "worker_lost")

    def test_a_daemon_that_stops_answering_is_left(self):
        # Answers hello and worker.register, then nothing: a half-open connection.
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        accepted = []

        def serve():
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                accepted.append(conn)
                lines = conn.makefile("rb")
                for _ in range(2):
                    request = json.loads(lines.readline())
                    reply = {"id": request["id"], "ok": True, "protocol": 1, "worker": "w-fake",
                             "heartbeat_s": 0.1}
                    conn.sendall(json.dumps(reply).encode() + b"\n")

        threading.Thread(target=serve, daemon=True).start()
        worker = taskpool.Worker("127.0.0.1:%d" % listener.getsockname()[1])
        worker.task("py.any")(lambda args: args)
        with self.assertLogs("taskpool.worker", "WARNING") as logs:
            self.serve(worker)
            wait_for(lambda: len(accepted) >= 2)
        self.assertIn("taskpoold has answered nothing", "\n".join(logs.output))
        for conn in accepted:
            self.addCleanup(conn.close)


if __name__ == "__main__":
    unittest.main()
