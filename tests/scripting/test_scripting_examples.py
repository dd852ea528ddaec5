"""Runs every bash example of docs/scripting.md and docs/workflows.md against a
real daemon.

Each ```bash block runs with `bash -euo pipefail`, with the daemon's port put in
place of the default 7433 and the built `taskpool` first on the PATH; it must
exit 0 and print something."""

import os
import re
import subprocess
import unittest

from taskpoold import DaemonTestCase

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")


def examples(page):
    with open(os.path.join(DOCS, page)) as f:
        return re.findall(r"```bash\n(.*?)```", f.read(), re.S)


class ScriptingExamples(DaemonTestCase):
    def run_examples(self, page, at_least):
        blocks = examples(page)
        self.assertGreaterEqual(len(blocks), at_least)
        cli_dir = os.path.dirname(os.environ["TASKPOOL_CLI"])
        env = dict(os.environ, TASKPOOL_TOKEN="unused", TASKPOOL_ADDR=self.daemon.address,
                   PATH=cli_dir + os.pathsep + os.environ["PATH"])
        for block in blocks:
            with self.subTest(page=page, example=block.splitlines()[0]):
                script = block.replace("7433", str(self.daemon.port))
                run = subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                                     capture_output=True, text=True, timeout=60, env=env)
                self.assertEqual(run.returncode, 0, run.stderr + run.stdout)
                self.assertTrue(run.stdout.strip(), "printed nothing")
                self.assertNotIn('"ok":false', run.stdout)
                self.assertNotRegex(run.stdout, r'(?m)^\{"error":')  # an HTTP refusal

    def test_every_example_of_scripting_runs(self):
        self.run_examples("scripting.md", 11)

    def test_every_example_of_workflows_runs(self):
        self.run_examples("workflows.md", 8)


if __name__ == "__main__":
    unittest.main()
