"""What a deployment reads: the Dockerfile, the compose file, `make install`.
$TASKPOOL_BUILD_DIR is the build to install from."""

import os
import re
import subprocess
import tempfile
import unittest

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUILD = os.environ.get("TASKPOOL_BUILD_DIR", "")


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
    def services(self):
        """Each service's text, by name."""
        text = read("config", "docker-compose.yml").split("\nservices:\n", 1)[1]
        parts = re.split(r"^  (\w+):\n", text.split("\nvolumes:", 1)[0], flags=re.MULTILINE)
        return dict(zip(parts[1::2], parts[2::2]))

    def test_every_service_on_the_image_can_build_it(self):
        # A service with `image: taskpool` and no `build` makes `compose up` pull
        # an image that no registry has.
        services = self.services()
        self.assertEqual(sorted(services), ["certs", "client", "taskpoold"])
        for service in services.values():
            self.assertIn("image: taskpool", service)
            self.assertRegex(service, r"^    build: \.\.", service)

    def test_the_daemon_serves_tls_with_a_token_and_the_client_trusts_its_ca(self):
        services = self.services()
        daemon, client = services["taskpoold"], services["client"]
        for key in ("TASKPOOL_TOKEN", "TASKPOOL_TLS_CERT", "TASKPOOL_TLS_KEY"):
            self.assertIn(key + ":", daemon)
        self.assertIn("taskpool-make-certs /etc/taskpool/tls server taskpoold", services["certs"])
        self.assertIn("TASKPOOL_ADDR: tls://taskpoold:7433", client)
        self.assertIn("TASKPOOL_CA: /ca/ca.pem", client)
        self.assertNotIn("- tls:", client)  # the keys stay with the daemon


class NetworkTest(unittest.TestCase):
    """A daemon on a non-loopback address, set up as docs/operations.md says."""

    def run_cli(self, *argv, **env):
        return subprocess.run([os.path.join(BUILD, "client", "taskpool"), *argv],
                              env=dict(os.environ, **env), capture_output=True, text=True,
                              timeout=60)

    def test_only_tls_with_a_token_opens_a_public_address(self):
        daemon = os.path.join(BUILD, "daemon", "taskpoold")
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, TASKPOOL_TOKEN="change-me")
            plain = subprocess.run([daemon, "--listen", "0.0.0.0:0"], env=env,
                                   capture_output=True, text=True, timeout=30)
            self.assertEqual(plain.returncode, 1)
            self.assertIn("without TLS: set tls.cert and tls.key", plain.stdout)

            tls = os.path.join(d, "tls")
            for argv in (("server", "taskpool.example.com"), ("client", "alice")):
                subprocess.run([os.path.join(REPO, "config", "make-certs.sh"), tls, *argv],
                               check=True, stdout=subprocess.DEVNULL)
            env.update(TASKPOOL_TLS_CERT=os.path.join(tls, "server.pem"),
                       TASKPOOL_TLS_KEY=os.path.join(tls, "server.key"))
            with subprocess.Popen([daemon, "--listen", "0.0.0.0:0"], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
                try:
                    for line in process.stdout:
                        found = re.search(r"listening on 0\.0\.0\.0:(\d+)", line)
                        if found:
                            break
                    port = found.group(1)
                    trusted = {"TASKPOOL_CA": os.path.join(tls, "ca.pem")}
                    ping = self.run_cli("--addr", "tls://localhost:" + port, "--json", "ping",
                                        TASKPOOL_TOKEN="change-me", **trusted)
                    self.assertEqual(ping.returncode, 0, ping.stderr)
                    self.assertIn('"peer_subject":"CN=taskpool.example.com"', ping.stdout)
                    no_token = self.run_cli("--addr", "tls://localhost:" + port, "stats",
                                            **trusted)
                    self.assertEqual(no_token.returncode, 3)
                    self.assertIn("unauthorized", no_token.stderr)
                    in_clear = self.run_cli("--addr", "127.0.0.1:" + port, "ping",
                                            TASKPOOL_TOKEN="change-me")
                    self.assertEqual(in_clear.returncode, 3)
                finally:
                    process.terminate()


class InstallTest(unittest.TestCase):
    def test_install_honours_prefix_and_destdir(self):
        with tempfile.TemporaryDirectory() as root:
            env = dict(os.environ, DESTDIR=root)
            subprocess.run(["cmake", "--install", BUILD, "--prefix",
                            "/usr/local"], env=env, check=True, stdout=subprocess.DEVNULL)
            prefix = os.path.join(root, "usr", "local")
            for path in ("bin/taskpoold", "bin/taskpool", "bin/taskpool-make-certs",
                         "include/taskpool/task.hpp",
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
