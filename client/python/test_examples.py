"""Runs every python example of docs/python.md and README.md against a real daemon.

Each ```python block runs in a Python of its own with TASKPOOL_ADDR set to the
daemon's address; it must exit 0 and print something."""

import os
import re
import subprocess
import sys
import unittest

from taskpoold import DaemonTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = [os.path.join(HERE, "..", "..", *path) for path in (("docs", "python.md"), ("README.md",))]


def examples():
    blocks = []
    for doc in DOCS:
        with open(doc) as f:
            blocks += re.findall(r"```python\n(.*?)```", f.read(), re.S)
    return blocks


class PythonDocExamples(DaemonTestCase):
    def test_every_example_runs(self):
        blocks = examples()
        self.assertGreaterEqual(len(blocks), 8)
        env = dict(os.environ, TASKPOOL_ADDR=self.daemon.address, PYTHONPATH=HERE)
        for block in blocks:
            with self.subTest(example=block.splitlines()[-1]):
                run = subprocess.run([sys.executable, "-c", block], capture_output=True,
                                     text=True, timeout=120, env=env)
                self.assertEqual(run.returncode, 0, run.stderr + run.stdout)
                self.assertTrue(run.stdout.strip(), "printed nothing")


if __name__ == "__main__":
    unittest.main()
