"""Debian's headless Chromium, driven over the DevTools protocol (python3-websocket).

A Browser starts chromium with a throwaway profile; page() opens a tab of a fixed
viewport, in which tests evaluate JavaScript, wait for what the page shows, click,
type and take screenshots. What the page logs as an error (an exception, a refused
Content-Security-Policy) is collected, for the tests to find none.
"""

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time

try:
    import websocket
except ImportError:
    raise SystemExit("no websocket module for this python3: apt-get install python3-websocket")

VIEWPORT = (1280, 860)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no chromium on PATH: .ci/install-deps installs Debian's")


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="taskpool-chromium-")
        # --no-sandbox: tests run as root in CI, where chromium's sandbox will not.
        self.process = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--remote-debugging-port=0", "--user-data-dir=" + self.profile, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        time.sleep(0.05)  # the file is written in two lines
        with open(port_file) as f:
            port, path = f.read().split()[:2]
        self.socket = websocket.create_connection("ws://127.0.0.1:%s%s" % (port, path),
                                                  timeout=60, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events = []

    def call(self, method, params=None, session=None):
        """Sends a command and returns its result; events read meanwhile are kept."""
        message = {"id": next(self.ids), "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv())
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Page(self, target, session["sessionId"])

    def close(self):
        if getattr(self, "socket", None):
            try:
                self.call("Browser.close")
            except Exception:  # it may be gone already
                pass
            self.socket.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, target, session):
        self.browser, self.target, self.session = browser, target, session
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")
        width, height = VIEWPORT
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def call(self, method, params=None):
        return self.browser.call(method, params, self.session)

    def close(self):
        """Closes the tab: a browser gives one host six connections, and a tab left
        open holds one with its event stream."""
        self.browser.call("Target.closeTarget", {"targetId": self.target})

    def goto(self, url):
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && location.href === %s" % json.dumps(url))

    def eval(self, expression):
        """The value of `expression` (awaited if a promise); raises if it throws."""
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError("%s: %s" % (expression, result["exceptionDetails"]))
        return result["result"].get("value")

    def wait_for(self, expression, timeout=15):
        """Until `expression` is truthy (an element, say)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.eval("!!(%s)" % expression):
                return
            if time.monotonic() > deadline:
                raise AssertionError("the page never showed: %s\n(page text: %s)" % (
                    expression, self.eval("document.body.innerText")[:2000]))
            time.sleep(0.05)

    def text(self, selector):
        return self.eval("(document.querySelector(%s) || {}).textContent" % json.dumps(selector))

    def count(self, selector):
        return self.eval("document.querySelectorAll(%s).length" % json.dumps(selector))

    def click(self, selector):
        """Clicks the element with the mouse, as a person would: it takes the focus."""
        self.wait_for("document.querySelector(%s)" % json.dumps(selector))
        x, y = self.eval("""(() => { const el = document.querySelector(%s);
            el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();
            return [r.x + r.width / 2, r.y + r.height / 2]; })()""" % json.dumps(selector))
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent",
                      {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def type(self, selector, text):
        """Types into an input as a person would: the page hears input and change."""
        self.wait_for("document.querySelector(%s)" % json.dumps(selector))
        self.eval("""(() => { const el = document.querySelector(%s); el.focus(); el.value = %s;
            el.dispatchEvent(new Event('input', {bubbles: true}));
            el.dispatchEvent(new Event('change', {bubbles: true})); })()""" % (
            json.dumps(selector), json.dumps(text)))

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def errors(self):
        """What the page reported as errors: uncaught exceptions, console errors,
        and the browser's own (a refused script or style is one)."""
        found = []
        for e in self.browser.events:
            if e.get("sessionId") != self.session:
                continue
            params = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif e["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(" ".join(str(a.get("value", a.get("description", "")))
                                      for a in params.get("args", [])))
            elif (e["method"] == "Log.entryAdded" and params["entry"]["level"] == "error"
                  and params["entry"].get("source") != "network"):
                # A response of 401 or 404 is the page's business, not an error of it.
                found.append(params["entry"].get("text", ""))
        return found
