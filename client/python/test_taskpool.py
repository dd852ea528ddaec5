"""Tests of taskpool.py against the real daemon ($TASKPOOLD: the taskpoold binary;
tests/support on PYTHONPATH)."""

import json
import os
import unittest
import urllib.error
import urllib.request

import taskpool
from taskpoold import Daemon, DaemonTestCase


class ClientTest(DaemonTestCase):
    def setUp(self):
        self.tp = taskpool.connect(self.daemon.address, timeout=30)

    def tearDown(self):
        self.tp.close()

    def test_hello_and_ping(self):
        self.assertEqual(self.tp.server["server"], "taskpoold")
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

    def test_options_pass_through(self):
        job = self.tp.submit("pid", pool="process", priority=5, timeout_s=10, wait=True)
        self.assertEqual(job["pool"], "process")
        self.assertEqual(job["priority"], 5)
        self.assertNotEqual(job["result"]["pid"], self.daemon.process.pid)

    def test_map_keeps_the_order(self):
        jobs = self.tp.map("echo", range(50), wait=True)
        self.assertEqual([j["result"] for j in jobs], list(range(50)))

    def test_cancel_and_list(self):
        job = self.tp.submit("sleep", {"seconds": 30})
        self.assertEqual(self.tp.cancel(job["id"])["state"], "cancelled")
        self.assertIn(job["id"], [j["id"] for j in self.tp.list(state="cancelled")])

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


class TokenTest(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main()
