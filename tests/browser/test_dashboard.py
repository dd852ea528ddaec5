"""The dashboard at /ui, in Debian's headless Chromium against the real taskpoold.

Each test signs in as a person would (the page asks for the token), then looks at
what the page shows. No test passes with the page broken: each waits for figures,
rows or states that only the live page can show. With $TASKPOOL_SCREENSHOTS set,
the views are also saved there as PNGs at a fixed viewport (`make screenshots`
puts them in docs/images for docs/dashboard.md).
"""

import json
import os
import socket
import time
import unittest
import urllib.request

from cdp import Browser
from taskpoold import Daemon

ADMIN, READER = "admin-token-for-the-dashboard", "read-token-for-the-dashboard"
CONFIG = {"auth": {"tokens": [{"name": "ops", "token": ADMIN, "scopes": ["admin"]},
                              {"name": "viewer", "token": READER, "scopes": ["read"]}]},
          "thread_pool": {"size": 4},
          "queues": {"emails": {"max_concurrency": 2, "rate_limit": "50/s"}},
          "schedules": {"nightly-report": {"task": "echo", "cron": "0 3 * * *",
                                           "args": {"report": "nightly"}}}}
SCREENSHOTS = os.environ.get("TASKPOOL_SCREENSHOTS")


def call(daemon, method, path, body=None, token=ADMIN):
    request = urllib.request.Request(
        "http://%s%s" % (daemon.address, path), method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def submit(daemon, task, args=None, **options):
    return call(daemon, "POST", "/v1/jobs", dict(task=task, args=args, **options))["job"]["id"]


def kv_set(daemon, key, value):
    """kv.set over NDJSON: HTTP has no route that changes shared state."""
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as s:
        s.sendall((json.dumps({"op": "hello", "token": ADMIN}) + "\n" +
                   json.dumps({"op": "kv.set", "key": key, "value": value}) + "\n").encode())
        replies = s.makefile()
        for _ in range(2):
            reply = json.loads(replies.readline())
            assert reply["ok"], reply


def sign_in(page, daemon, token=ADMIN, view=""):
    """Opens the dashboard, signs in with `token` as a person would, goes to `view`."""
    page.goto("http://%s/ui/" % daemon.address)
    page.wait_for("!document.getElementById('login').hidden")
    page.type("#token", token)
    page.eval("document.getElementById('login').requestSubmit()")
    page.wait_for("document.getElementById('login').hidden && "
                  "document.getElementById('who').textContent !== ''")
    if view:
        page.eval("location.hash = %s" % json.dumps(view))


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(CONFIG)
        cls.browser = Browser()

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.daemon.stop()

    def setUp(self):
        self.page = self.browser.page()

    def tearDown(self):
        errors = self.page.errors()
        self.page.close()
        self.assertEqual(errors, [], "the page reported errors")

    def open(self, view="", token=ADMIN):
        sign_in(self.page, self.daemon, token, view)

    def figure(self, name):
        text = self.page.text("[data-figure=%s] .n" % name)
        return int(text) if text and text.isdigit() else -1

    def screenshot(self, name):
        if SCREENSHOTS:
            os.makedirs(SCREENSHOTS, exist_ok=True)
            time.sleep(0.3)  # the last frame's events applied
            self.page.screenshot(os.path.join(SCREENSHOTS, name + ".png"))

    def test_the_overview_shows_live_figures_after_jobs_run(self):
        self.open()
        self.page.wait_for("document.querySelector('#pools-table tr[data-pool=thread]')")
        before = self.figure("succeeded")
        for i in range(20):
            submit(self.daemon, "echo", {"n": i})
        submit(self.daemon, "fail")
        # The figures come from the page's own polling: they move with no reload.
        self.page.wait_for("Number(document.querySelector('[data-figure=succeeded] .n')"
                           ".textContent) >= %d" % (before + 20))
        self.page.wait_for("document.querySelector('#failures-table')")
        self.assertGreaterEqual(self.count_rows("#process-workers"), 1)
        self.assertIn("MiB", self.page.text("#process-workers"))
        self.assertEqual(self.page.count("#chart-finished"), 1)
        # The admin token is offered what it may do.
        self.assertGreater(self.page.count("#pools-table [data-action=pause]"), 0)
        self.assertGreater(self.page.count("#pools-table [data-action=resize]"), 0)
        self.page.wait_for("document.querySelector('#live').textContent === 'live'")
        self.screenshot("overview")

    def test_an_admin_resizes_a_pool_from_the_overview(self):
        self.open()
        row = "#pools-table tr[data-pool=thread]"
        self.page.wait_for("document.querySelector('%s [data-action=resize]')" % row)
        self.page.type(row + " input[type=number]", "6")
        self.page.click(row + " [data-action=resize]")
        # The next poll shows the new size: the table is not held by the button's focus.
        self.page.wait_for("document.querySelector('%s td:nth-child(2)').textContent === '6'" % row)
        self.assertEqual(call(self.daemon, "GET", "/v1/stats")["pools"]["thread"]["size"], 6)
        call(self.daemon, "PUT", "/v1/pools/thread", {"size": 4})

    def count_rows(self, table):
        return self.page.count(table + " tbody tr")

    def test_the_job_table_filters_by_state_task_and_id(self):
        marker = submit(self.daemon, "echo", {"filter": "mine"}, wait=5)
        submit(self.daemon, "fail", wait=5)
        self.open("#/jobs")
        self.page.wait_for("document.querySelector('#jobs-table tr[data-job=\"%s\"]')" % marker)
        self.page.eval("""(() => { const s = document.querySelector('select[name=task]');
            s.value = 'fail'; s.dispatchEvent(new Event('change')); })()""")
        self.page.wait_for("location.hash.includes('task=fail') && "
                           "document.querySelectorAll('#jobs-table tbody tr').length > 0")
        tasks = self.page.eval("[...document.querySelectorAll('#jobs-table tbody tr td:nth-child(2)')]"
                               ".map(td => td.textContent)")
        self.assertEqual(set(tasks), {"fail"})
        self.page.eval("""(() => { const s = document.querySelector('select[name=state]');
            s.value = 'succeeded'; s.dispatchEvent(new Event('change')); })()""")
        self.page.wait_for("document.getElementById('no-jobs')")  # no fail job succeeded
        self.page.eval("location.hash = '#/jobs'")
        self.page.wait_for("document.querySelector('#jobs-table')")
        self.page.type("input[name=contains]", marker[-6:])
        self.page.eval("document.getElementById('job-filters').requestSubmit()")
        self.page.wait_for("location.hash.includes('contains=') && "
                           "document.querySelectorAll('#jobs-table tbody tr').length === 1")
        self.assertEqual(self.page.eval(
            "document.querySelector('#jobs-table tbody tr').dataset.job"), marker)
        self.screenshot("jobs")

    def test_a_new_job_appears_in_the_table_by_itself(self):
        self.open("#/jobs")
        self.page.wait_for("document.querySelector('#jobs-table') || document.getElementById('no-jobs')")
        job = submit(self.daemon, "echo", {"live": True})
        self.page.wait_for("document.querySelector('#jobs-table tr[data-job=\"%s\"] "
                           "[data-state=succeeded]')" % job)

    def test_cancelling_a_running_job_from_its_page(self):
        job = submit(self.daemon, "sleep", {"seconds": 60})
        self.open("#/jobs/" + job)
        self.page.wait_for("document.querySelector('#job-state[data-state=running]')")
        self.page.wait_for("document.querySelector('#job-args')")
        self.screenshot("job")
        self.page.click("[data-action=cancel]")
        self.page.wait_for("document.querySelector('#job-state[data-state=cancelled]')")
        self.assertEqual(call(self.daemon, "GET", "/v1/jobs/" + job)["job"]["state"], "cancelled")
        self.assertEqual(self.page.count("[data-action=cancel]"), 0)
        self.assertEqual(self.page.count("[data-action=retry]"), 1)

    def test_markup_in_args_is_shown_as_text_and_never_runs(self):
        payload = ("<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">"
                   "<b>bold</b>")
        job = submit(self.daemon, "echo", {"note": payload}, wait=5)
        self.open("#/jobs/" + job)
        self.page.wait_for("document.querySelector('#job-result')")
        self.assertIn(payload.replace('"', '\\"'), self.page.text("#job-args"))
        self.page.eval("location.hash = '#/jobs'")
        self.page.wait_for("document.querySelector('#jobs-table tr[data-job=\"%s\"]')" % job)
        time.sleep(0.3)  # what an injected image or script would do, it would have done
        self.assertIsNone(self.page.eval("window.pwned"))
        self.assertEqual(self.page.count("#main img, #main script, #main b"), 0)

    def test_a_read_only_token_sees_everything_and_no_buttons(self):
        running = submit(self.daemon, "sleep", {"seconds": 30})
        self.open(token=READER)
        self.assertIn("viewer (read)", self.page.text("#who"))
        self.page.wait_for("document.querySelector('#pools-table tr[data-pool=process]')")
        self.assertEqual(self.page.count("#main button"), 0)
        self.assertEqual(self.page.count("#main input[type=number]"), 0)
        self.page.eval("location.hash = '#/jobs/%s'" % running)
        self.page.wait_for("document.querySelector('#job-state[data-state=running]')")
        self.assertEqual(self.page.count("#main button"), 0)
        self.page.eval("location.hash = '#/queues'")
        self.page.wait_for("document.querySelector('#queues-table tr[data-queue=emails]')")
        self.assertEqual(self.page.count("#main button"), 0)
        self.screenshot("queues")
        self.page.eval("location.hash = '#/schedules'")
        self.page.wait_for("document.querySelector('#schedules-table tr[data-schedule=\"nightly-report\"]')")
        self.screenshot("schedules")
        call(self.daemon, "DELETE", "/v1/jobs/" + running)

    def test_shared_state_is_listed_read_only(self):
        kv_set(self.daemon, "report:<i>last</i>", {"rows": 1200, "html": "<img src=x>"})
        kv_set(self.daemon, "counter:emails", 41)
        self.open("#/kv", token=READER)
        self.page.wait_for("document.querySelector('#kv-table tr[data-key=\"counter:emails\"]')")
        self.assertIn("report:<i>last</i>", self.page.text("#kv-table"))
        self.assertEqual(self.page.count("#kv-table input, #kv-table button, #kv-table img"), 0)
        self.screenshot("kv")


class Reconnection(unittest.TestCase):
    def test_the_event_stream_reconnects_after_the_daemon_restarts(self):
        daemon = Daemon(CONFIG)
        browser = Browser()
        try:
            page = browser.page()
            sign_in(page, daemon, view="#/jobs")
            page.wait_for("document.querySelector('#live').textContent === 'live'")
            port = daemon.port
            daemon.stop()
            page.wait_for("document.querySelector('#live').textContent === 'reconnecting'")
            daemon = Daemon(CONFIG, port=port)
            page.wait_for("document.querySelector('#live').textContent === 'live'", timeout=20)
            job = submit(daemon, "echo", {"after": "restart"})
            page.wait_for("document.querySelector('#jobs-table tr[data-job=\"%s\"] "
                          "[data-state=succeeded]')" % job)
            self.assertEqual(page.errors(), [])
        finally:
            browser.close()
            daemon.stop()


if __name__ == "__main__":
    unittest.main()
