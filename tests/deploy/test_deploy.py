"""What a deployment reads: the Dockerfile, the compose file, `make install`.
$TASKPOOL_BUILD_DIR is the build to install from."""

import os
import re
import subprocess
import tempfile
import unittest

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def read(*path):
    with open(os.path.join(REPO, *path)) as f:
        return f.read()


class DockerfileTest(unittest.TestCase):
    def test_the_runtime_user_is_numeric_and_not_root(self):
        # Kubernetes' runAsNonRoot can only verify a numeric USER.
        users = re.findall(r"^USER\s+(\S+)\s*$", read("Dockerfile"), re.MULTILINE)
        self.assertEqual(len(users), 1, users)
        match = re.fullmatch(r"(\d+):(\d+)", users[0])
        self.assertIsNotNone(match, "USER %s is not uid:gid" % users[0])
        self.assertNotEqual(match.group(1), "0")
        self.assertIn("--uid %s" % match.group(1), read("Dockerfile"))


class ComposeTest(unittest.TestCase):
    def test_every_service_on_the_image_can_build_it(self):
        # A service with `image: taskpool` and no `build` makes `compose up` pull
        # an image that no registry has.
        services = re.split(r"^  (?=\w)", read("config", "docker-compose.yml").split(
            "\nservices:\n", 1)[1].split("\nvolumes:", 1)[0], flags=re.MULTILINE)
        services = [s for s in services if s.strip()]
        self.assertEqual(len(services), 2)
        for service in services:
            self.assertIn("image: taskpool", service)
            self.assertRegex(service, r"\n    build: \.\.")


class InstallTest(unittest.TestCase):
    def test_install_honours_prefix_and_destdir(self):
        with tempfile.TemporaryDirectory() as root:
            env = dict(os.environ, DESTDIR=root)
            subprocess.run(["cmake", "--install", os.environ["TASKPOOL_BUILD_DIR"], "--prefix",
                            "/usr/local"], env=env, check=True, stdout=subprocess.DEVNULL)
            prefix = os.path.join(root, "usr", "local")
            for path in ("bin/taskpoold", "bin/taskpool", "include/taskpool/task.hpp",
                         "etc/taskpool/taskpool.json"):
                self.assertTrue(os.path.exists(os.path.join(prefix, path)), path)
            version = subprocess.run([os.path.join(prefix, "bin", "taskpool"), "--version"],
                                     capture_output=True, text=True, check=True)
            self.assertIn("taskpool", version.stdout)

    def test_make_install_passes_destdir_and_prefix(self):
        recipe = subprocess.run(["make", "-n", "-C", REPO, "install", "DESTDIR=/stage",
                                 "PREFIX=/opt/tp", "BUILD=somewhere"], capture_output=True,
                                text=True, check=True).stdout
        self.assertIn('DESTDIR="/stage" cmake --install somewhere --prefix "/opt/tp"', recipe)


if __name__ == "__main__":
    unittest.main()
