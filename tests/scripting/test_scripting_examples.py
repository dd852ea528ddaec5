"""Runs every bash example of docs/scripting.md against a real daemon.

Each ```bash block runs with `bash -euo pipefail`, with the daemon's port put in
place of the default 7433; it must exit 0 and print something."""

import os
import re
import subprocess
import unittest

from taskpoold import DaemonTestCase

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "scripting.md")


def examples():
    with open(DOC) as f:
        return re.findall(r"```bash\n(.*?)```", f.read(), re.S)


class ScriptingExamples(DaemonTestCase):
    def test_every_example_runs(self):
        blocks = examples()
        self.assertGreater(len(blocks), 10)
        for block in blocks:
            with self.subTest(example=block.splitlines()[0]):
                script = block.replace("7433", str(self.daemon.port))
                run = subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                                     capture_output=True, text=True, timeout=60,
                                     env=dict(os.environ, TASKPOOL_TOKEN="unused"))
                self.assertEqual(run.returncode, 0, run.stderr + run.stdout)
                self.assertTrue(run.stdout.strip(), "printed nothing")
                self.assertNotIn('"ok":false', run.stdout)


if __name__ == "__main__":
    unittest.main()
