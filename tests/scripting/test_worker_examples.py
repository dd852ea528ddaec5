"""Runs the workers of docs/workers.md against a real daemon, as written: each
worker example starts in the background, then the job the page submits to it
must come back with the result the page shows."""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from taskpoold import DaemonTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "workers.md")
CLI = os.environ["TASKPOOL_CLI"]


def blocks(language):
    with open(DOC) as f:
        return re.findall(r"```%s\n(.*?)```" % language, f.read(), re.S)


class WorkerExamples(DaemonTestCase):
    def setUp(self):
        self.env = dict(os.environ, TASKPOOL_ADDR=self.daemon.address,
                        PATH=os.path.dirname(CLI) + os.pathsep + os.environ["PATH"])
        self.dir = tempfile.TemporaryDirectory()
        self.workers = []

    def tearDown(self):
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.dir.cleanup()

    def start(self, argv):
        self.workers.append(subprocess.Popen(argv, env=self.env, cwd=self.dir.name,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))

    def wait_for_task(self, task):
        """Until a worker serves `task`: a submit before would find no such task."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out = subprocess.run([CLI, "--json", "tasks"], env=self.env, capture_output=True,
                                 text=True, timeout=30)
            tasks = json.loads(out.stdout) if out.returncode == 0 else []
            if any(t["name"] == task and t.get("workers") for t in tasks):
                return
            time.sleep(0.05)
        self.fail("no worker serves %s: %s" % (task, self.workers[-1].stderr.read1()))

    def submit(self, line):
        """Runs a `taskpool submit TASK ...   # result` line of the page, once a
        worker serves TASK, and checks the result."""
        self.wait_for_task(line.split()[2])
        command, _, expected = line.partition("#")
        out = subprocess.run(["bash", "-c", command + " --json"], env=self.env, cwd=self.dir.name,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["result"], json.loads(expected))

    def run_job(self, task, args):
        """Once a worker serves `task`, submits a job of it and returns it, finished."""
        self.wait_for_task(task)
        out = subprocess.run([CLI, "--json", "submit", task, json.dumps(args)], env=self.env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_the_shell_worker(self):
        block = blocks("sh")[0]
        start, submit = block.rstrip("\n").rsplit("\n", 1)
        self.start(["bash", "-c", "exec " + start.rstrip(" &")])
        self.submit(submit)

    def test_the_perl_worker(self):
        with open(os.path.join(self.dir.name, "reverse-worker.pl"), "w") as f:
            f.write(blocks("perl")[0])
        start, submit = blocks("sh")[1].rstrip("\n").split("\n")
        self.start(start.rstrip(" &").split())
        self.submit(submit)

    def test_the_cpp_worker(self):
        # The page's lines are those of the example program, which is built and run.
        with open(os.path.join(HERE, "..", "..", "client", "examples", "worker.cpp")) as f:
            program = [line.strip() for line in f]
        for line in blocks("cpp")[0].strip().splitlines():
            self.assertIn(line.strip(), program)
        self.start([os.environ["TASKPOOL_EXAMPLE_WORKER"]])
        job = self.run_job("double", {"n": 21})
        self.assertEqual(job["result"], {"n": 42})
        self.assertEqual(job["progress"], {"half": True})

    def test_the_python_worker(self):
        code = blocks("python")[0]
        self.start([sys.executable, "-c", code])
        job = self.run_job("resize", {"w": 640})
        self.assertEqual(job["result"], {"w": 320})
        self.assertEqual(job["progress"], {"pct": 50})


if __name__ == "__main__":
    unittest.main()
