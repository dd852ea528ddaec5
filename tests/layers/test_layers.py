"""The layers of the source tree, as its #include lines draw them.

client -> proto <- daemon, and inside the daemon no folder reaches back to one
that reaches it: each folder is a layer, and app.cpp (the wiring) sits on top.
"""
import collections
import os
import re
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(top):
    for folder, _, files in os.walk(os.path.join(ROOT, top)):
        for name in files:
            if name.endswith((".cpp", ".hpp")):
                yield os.path.relpath(os.path.join(folder, name), ROOT)


def included(path):
    """The project files `path` includes, as paths from the root."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    for name in INCLUDE.findall(text):
        beside = os.path.normpath(os.path.join(os.path.dirname(path), name))
        if os.path.exists(os.path.join(ROOT, beside)):
            yield beside
        elif os.path.exists(os.path.join(ROOT, name)):
            yield os.path.normpath(name)
        elif os.path.exists(os.path.join(ROOT, "daemon", name)):
            yield os.path.normpath(os.path.join("daemon", name))


def daemon_folder(path):
    """The daemon folder a file is in; None for the top, where the wiring is."""
    parts = path.split(os.sep)
    return parts[1] if len(parts) > 2 else None


class Layers(unittest.TestCase):
    def test_client_and_daemon_meet_only_in_proto(self):
        for top, forbidden in [("proto", ("daemon", "client")), ("client", ("daemon",)),
                               ("daemon", ("client",))]:
            for path in sources(top):
                for dep in included(path):
                    with self.subTest(file=path, includes=dep):
                        self.assertFalse(dep.startswith(forbidden))

    def test_daemon_folders_form_no_cycle(self):
        edges = collections.defaultdict(set)
        for path in sources("daemon"):
            src = daemon_folder(path)
            for dep in included(path):
                if not dep.startswith("daemon" + os.sep):
                    continue
                dst = daemon_folder(dep)
                with self.subTest(file=path, includes=dep):
                    # Only the wiring at the top may include what is at the top.
                    self.assertFalse(src is not None and dst is None)
                if src is not None and dst is not None and src != dst:
                    edges[src].add(dst)

        def path_between(start, goal, seen):
            for nxt in sorted(edges[start]):
                if nxt == goal:
                    return [nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    rest = path_between(nxt, goal, seen)
                    if rest:
                        return [nxt] + rest
            return None

        for folder in sorted(edges):
            cycle = path_between(folder, folder, set())
            self.assertIsNone(cycle, f"{folder} -> {' -> '.join(cycle or [])}")

    def test_the_scheduler_knows_its_seams_not_what_is_behind_them(self):
        for path in sources(os.path.join("daemon", "sched")):
            for dep in included(path):
                with self.subTest(file=path, includes=dep):
                    self.assertNotIn(daemon_folder(dep), {"store", "pools", "net", "ops"})


if __name__ == "__main__":
    unittest.main()
