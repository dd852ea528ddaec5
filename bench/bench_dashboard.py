#!/usr/bin/env python3
"""The dashboard under load, in Debian's headless Chromium.

A daemon keeps its 100,000 latest finished jobs (jobs.max_retained), filled
first, while `taskpool_loadgen rate` finishes RATE echo jobs a second. Then:

1. One page, on the jobs view and on the overview, each for SECONDS: frames
   drawn, long tasks (over 50 ms) and their blocking time, how late a 100 ms
   timer fires (what a click would wait), the heap, and how often the table's
   first row changed (that it is live). Then the time from a filter's change to
   the table drawn, for a filter no job matches (the daemon reads all 100,000)
   and for the next page.
2. The daemon's CPU per job at COST_RATE jobs a second with no dashboard open,
   then with PAGES dashboards (a browser each, as PAGES people would have) on
   the jobs view, then on the overview: the cost of the open dashboards is the
   difference. COST_RATE is lower than RATE because a jobs view at 5,000 jobs a
   second takes half a core of its browser: ten of them are more than two cores
   can give, and the daemon would be measured starved of CPU.

Needs TASKPOOL_BIN (the folder with taskpoold and taskpool_loadgen), chromium and
python3-websocket. Env: DASH_RATE (5000), DASH_COST_RATE (1000), DASH_SECONDS (20),
DASH_PAGES (10).
    TASKPOOL_BIN=build-release/bench python3 bench/bench_dashboard.py
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "tests", "browser"),
                os.path.join(HERE, "..", "tests", "support")]
BIN = os.environ["TASKPOOL_BIN"]
os.environ["TASKPOOLD"] = os.path.join(BIN, "taskpoold")

from cdp import Browser  # noqa: E402
from taskpoold import Daemon  # noqa: E402

RATE = int(os.environ.get("DASH_RATE", "5000"))
COST_RATE = int(os.environ.get("DASH_COST_RATE", "1000"))
SECONDS = int(os.environ.get("DASH_SECONDS", "20"))
PAGES = int(os.environ.get("DASH_PAGES", "10"))
RETAINED = 100000
TICK = os.sysconf("SC_CLK_TCK")

# Installed in the page once it shows its view: what the page's user would feel.
PROBE = """(() => {
  const p = window.probe = { frames: [], lags: [], long: [], firsts: new Set() };
  new PerformanceObserver((l) => { for (const e of l.getEntries()) p.long.push(e.duration); })
    .observe({ type: 'longtask' });
  let last = performance.now();
  requestAnimationFrame(function frame(now) { p.frames.push(now - last); last = now;
                                              requestAnimationFrame(frame); });
  let due = performance.now() + 100;
  setInterval(() => { const now = performance.now(); p.lags.push(now - due); due = now + 100;
    const first = document.querySelector('#jobs-table tbody tr');
    if (first) p.firsts.add(first.dataset.job); }, 100);
})()"""

SUMMARY = """(() => {
  const p = window.probe;
  const rank = (xs, q) => { const s = [...xs].sort((a, b) => a - b);
                            return s.length ? s[Math.floor(q * (s.length - 1))] : 0; };
  const spent = p.frames.reduce((a, b) => a + b, 0) / 1000;
  return { fps: p.frames.length / spent, frame_p99: rank(p.frames, 0.99),
           frame_max: Math.max(...p.frames), long_tasks: p.long.length,
           blocking_ms: p.long.reduce((a, d) => a + d - 50, 0),
           lag_p99: rank(p.lags, 0.99), lag_max: Math.max(...p.lags),
           heap_mb: performance.memory.usedJSHeapSize / 1048576,
           first_rows: p.firsts.size, live: document.getElementById('live').textContent };
})()"""

# Milliseconds from a change of the jobs view's hash to the frame that shows `drawn`.
TIMED = """new Promise((resolve) => {
  const t0 = performance.now();
  const before = document.querySelector('#jobs-table tbody tr');
  location.hash = %s;
  requestAnimationFrame(function check() {
    const first = document.querySelector('#jobs-table tbody tr');
    if (%s) resolve(performance.now() - t0); else requestAnimationFrame(check);
  });
})"""


def cpu_seconds(pid):
    """User and system time of `pid` and its children that it waited for."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICK


def tree_cpu(root):
    """CPU seconds of `root` and every process under it (a browser's renderers)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    total = 0.0
    for pid in tree:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def succeeded(daemon):
    with urllib.request.urlopen("http://%s/v1/stats" % daemon.address, timeout=30) as r:
        return json.load(r)["jobs"]["succeeded"]


def loadgen(daemon, *args):
    return subprocess.Popen([os.path.join(BIN, "taskpool_loadgen"), args[0], daemon.address,
                             "echo", "thread"] + [str(a) for a in args[1:]],
                            stdout=subprocess.PIPE, text=True)


def open_dashboard(browser, daemon, view):
    page = browser.page()
    page.goto("http://%s/ui/%s" % (daemon.address, view))
    page.wait_for("document.getElementById('live').textContent === 'live'", timeout=60)
    if view == "#/jobs":
        page.wait_for("document.querySelector('#jobs-table tbody tr')", timeout=60)
    return page


def window(daemon, browsers):
    """The daemon's CPU per job, and the browsers' CPU, over SECONDS."""
    jobs0, cpu0 = succeeded(daemon), cpu_seconds(daemon.process.pid)
    web0 = sum(tree_cpu(b.process.pid) for b in browsers)
    time.sleep(SECONDS)
    jobs = succeeded(daemon) - jobs0
    cpu = cpu_seconds(daemon.process.pid) - cpu0
    web = sum(tree_cpu(b.process.pid) for b in browsers) - web0
    return {"jobs_per_s": jobs / SECONDS, "daemon_cpu": cpu / SECONDS,
            "daemon_us_per_job": 1e6 * cpu / max(jobs, 1), "browsers_cpu": web / SECONDS}


def report(label, figures):
    print("taskpool dashboard %s: %s" % (label, " ".join(
        "%s=%s" % (k, ("%.2f" % v) if isinstance(v, float) else v) for k, v in figures.items())),
        flush=True)


def responsiveness(daemon):
    browser = Browser()
    try:
        for view in ("#/jobs", "#/"):
            page = open_dashboard(browser, daemon, view)
            page.eval(PROBE)
            jobs = succeeded(daemon)
            time.sleep(SECONDS)
            figures = page.eval(SUMMARY)
            figures["jobs_per_s"] = (succeeded(daemon) - jobs) / SECONDS
            report("1 page %s at %d/s" % (view, RATE), figures)
            page.close()
        page = open_dashboard(browser, daemon, "#/jobs")
        timed = {
            "no_match_ms": page.eval(TIMED % (json.dumps("#/jobs?state=failed"),
                                              "document.getElementById('no-jobs')")),
            "newest_ms": page.eval(TIMED % (json.dumps("#/jobs"), "first")),
        }
        older = page.eval("document.getElementById('older').getAttribute('href')")
        timed["older_page_ms"] = page.eval(TIMED % (json.dumps(older), "first && first !== before"))
        report("1 page, filter to drawn", timed)
        page.close()
    finally:
        browser.close()


def dashboards_cost(daemon):
    report("0 pages at %d/s" % COST_RATE, window(daemon, []))
    browsers = []
    try:
        for _ in range(PAGES):
            browsers.append(Browser())
        for view in ("#/jobs", "#/"):
            pages = [open_dashboard(b, daemon, view) for b in browsers]
            report("%d pages %s at %d/s" % (PAGES, view, COST_RATE), window(daemon, browsers))
            for page in pages:
                page.close()
    finally:
        for b in browsers:
            b.close()


def main():
    daemon = Daemon({"thread_pool": {"size": 2}})
    try:
        fill = loadgen(daemon, "pipe", RETAINED, 64, 2)
        print(fill.communicate()[0].strip(), flush=True)
        for rate, measure in ((RATE, responsiveness), (COST_RATE, dashboards_cost)):
            load = loadgen(daemon, "rate", rate, 3600)  # until killed, below
            time.sleep(2)
            measure(daemon)
            if load.poll() is not None:
                raise RuntimeError("the load stopped: " + load.communicate()[0])
            load.kill()
            load.wait()
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
