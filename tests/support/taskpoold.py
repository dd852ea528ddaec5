"""The real taskpoold for Python tests: $TASKPOOLD on 127.0.0.1 (on a free port unless
told) in a temp dir."""

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest


class Daemon:
    """Starts taskpoold with `config` and waits until it listens (`address`):
    on `port`, or one that is free."""

    def __init__(self, config=None, port=0):
        self.dir = tempfile.TemporaryDirectory()
        config_path = os.path.join(self.dir.name, "taskpool.json")
        with open(config_path, "w") as f:
            json.dump(config or {}, f)
        self.log_path = os.path.join(self.dir.name, "taskpoold.log")
        deadline = time.monotonic() + 10
        while True:
            self._log = open(self.log_path, "w")
            self.process = subprocess.Popen(
                [os.environ["TASKPOOLD"], "--config", config_path, "--listen",
                 "127.0.0.1:%d" % port], stdout=self._log, stderr=subprocess.STDOUT,
                cwd=self.dir.name)
            while time.monotonic() < deadline and self.process.poll() is None:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.log())
                if m:
                    self.port = int(m.group(1))
                    self.address = "127.0.0.1:%d" % self.port
                    return
                time.sleep(0.02)
            # The port a daemon just killed held may be busy a moment longer.
            if port == 0 or time.monotonic() >= deadline or "in use" not in self.log():
                break
            self._log.close()
            time.sleep(0.2)
        self.process.kill()
        raise RuntimeError("taskpoold did not start:\n" + self.log())

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM, then waits for it; returns its exit status. Raises if its log
        has a sanitizer report."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=30)
        text = self.log()
        self._log.close()
        self.dir.cleanup()
        if "Sanitizer" in text or "runtime error" in text:
            raise AssertionError("sanitizer report in the daemon's log:\n" + text)
        return status


class DaemonTestCase(unittest.TestCase):
    """Test cases sharing one daemon (`self.daemon`), started with `config`."""

    config = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
