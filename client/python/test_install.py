"""Runs the offline install of docs/python.md: pip installs the package into a
fresh venv without a network, and it imports from there."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "python.md")


def offline_recipe():
    """The ```sh block of docs/python.md that installs without an index."""
    with open(DOC) as f:
        blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
    [recipe] = [b for b in blocks if "--no-index" in b]
    return recipe


class InstallTest(unittest.TestCase):
    def test_pip_installs_it_offline(self):
        work = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, work)
        # A copy, so that the build leaves nothing in the source tree.
        source = os.path.join(work, "src")
        os.mkdir(source)
        shutil.copy(os.path.join(HERE, "pyproject.toml"), source)
        shutil.copytree(os.path.join(HERE, "taskpool"), os.path.join(source, "taskpool"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        # This test's Python for the doc's python3, the copy for ./client/python.
        script = re.sub(r"^python3 ", lambda _: sys.executable + " ", offline_recipe(), flags=re.M)
        script = script.replace("./client/python", source)
        # Nothing of the test's own paths: the venv must find its own taskpool.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                             capture_output=True, text=True, timeout=300)
        pip = os.path.join(work, "venv", "bin", "pip")
        if run.returncode != 0 and not os.path.exists(pip):
            self.skipTest("this Python makes no venv with pip (Debian: python3-venv): "
                          + run.stderr)
        self.assertEqual(run.returncode, 0, script + run.stdout + run.stderr +
                         "\n(Debian 12: setuptools and wheel come from python3-setuptools-whl "
                         "and python3-wheel-whl)")

        shutil.rmtree(source)  # what the venv holds must be all it needs
        python = os.path.join(work, "venv", "bin", "python")
        imported = subprocess.run(
            [python, "-c", "import taskpool; print(taskpool.__file__, taskpool.__version__)"],
            cwd=work, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(imported.returncode, 0, imported.stderr)
        path, version = imported.stdout.split()
        self.assertTrue(path.startswith(os.path.join(work, "venv")), path)
        self.assertEqual(version, _package_version())


def _package_version():
    with open(os.path.join(HERE, "taskpool", "__init__.py")) as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


if __name__ == "__main__":
    unittest.main()
