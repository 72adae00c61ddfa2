"""The report of the tiny workflow run, opened in headless Chromium: every image loads, the interactive
plots render, nothing is fetched from the network and the console stays free of errors.

Chromium is driven through its DevTools protocol over a pipe (`--remote-debugging-pipe`: JSON messages,
each ended by a NUL byte, on file descriptors 3 and 4), so the test needs no Python package beyond the
standard library. Set REPORT_SCREENSHOT=path to keep a screenshot of the report's first screen there.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.workflow]

CHROMIUM = "/usr/bin/chromium"
#: The lock file that apt-get runs under, here and in tests/slurm/start_cluster.sh (`flock`).
APT_LOCK = "/tmp/vae-latent-study-apt.lock"
#: The flags of a quiet, offline, throwaway browser. SwiftShader draws WebGL (plotly's 3-D scatter) on the
#: CPU; Chromium asks for it explicitly since it stopped falling back to it by itself.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
#: URL schemes a self-contained report may load from.
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


@pytest.fixture(scope="session")
def chromium():
    """Debian's headless Chromium, installed with apt-get when missing (CI runs as root)."""
    if not Path(CHROMIUM).exists():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip(f"{CHROMIUM} is missing and apt-get cannot install it here (not root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # One apt-get at a time: the SLURM tests may install their packages from another pytest worker,
        # under the same lock file (tests/slurm/start_cluster.sh).
        lock = ["flock", APT_LOCK]
        for command in (
            [*lock, "apt-get", "update"],
            [*lock, "apt-get", "install", "-y", "chromium", "chromium-driver"],
        ):
            proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
            assert proc.returncode == 0, f"{' '.join(command)} failed:\n{proc.stdout[-3000:]}{proc.stderr}"
    return CHROMIUM


class DevTools:
    """A minimal DevTools-protocol client of one headless Chromium, over --remote-debugging-pipe."""

    def __init__(self, binary, profile_dir):
        # Chromium reads commands on fd 3 and answers on fd 4. The pipe ends are first moved above 10 so
        # that placing them on 3 and 4 in the child cannot overwrite one with the other.
        def high(fd):
            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return moved

        commands_read, self._write = map(high, os.pipe())
        self._read, answers_write = map(high, os.pipe())

        def wire():  # in the child, before exec: the only inheritable descriptors are these two
            os.dup2(commands_read, 3)
            os.dup2(answers_write, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=wire,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._buffer = b""
        self._next_id = 0
        self.events = []
        self.session = None

    def _receive(self, timeout):
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._read], [], [], max(timeout, 0.05))
            if not ready:
                raise TimeoutError("Chromium sent nothing")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, timeout=60, session=True):
        """Send one command (to the attached page unless session=False) and return its result."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline - time.monotonic())
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._receive(deadline - time.monotonic()))

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open_page(self, width=1280, height=1600):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, session=False
        )["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def close(self):
        try:
            self.send("Browser.close", timeout=10, session=False)
            self.proc.wait(timeout=20)
        except (OSError, RuntimeError, TimeoutError, EOFError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._read)
            os.close(self._write)


def console_errors(events):
    """Errors the page logged: console.error calls, uncaught exceptions, and browser log errors."""
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            found.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(params["entry"]["text"])
    return found


#: True once every plotly figure of the page has drawn: its svg layers and, for 3-D scenes, a canvas.
PLOTS_DRAWN = """
(() => {
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  return plots.length > 0 && plots.every(p => p.querySelector('svg.main-svg') &&
    (!p.querySelector('.gl-container') || p.querySelector('.gl-container canvas')));
})()
"""

PAGE_FACTS = """
(() => ({
  images: Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth,
                                                  name: i.alt})),
  plots: Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => ({
    id: p.id, svg: p.querySelectorAll('svg').length, canvas: p.querySelectorAll('canvas').length,
    traces: (p.data || []).length, height: p.getBoundingClientRect().height})),
  captions: document.querySelectorAll('figcaption').length,
  answers: document.querySelectorAll('#answers li').length,
  cards: document.querySelectorAll('#headline .card').length,
  verdicts: document.querySelectorAll('#headline .verdict-word').length,
  cardsTop: (document.querySelector('#headline .card') || {getBoundingClientRect: () => ({top: 1e9})})
    .getBoundingClientRect().top,
  screen: window.innerHeight,
  provenance: (document.querySelector('#provenance') || {textContent: ''}).textContent,
}))()
"""


def test_report_opens_offline_with_every_figure(finished_run, chromium, tmp_path):
    workdir, _ = finished_run
    report = workdir / "results" / "report" / "report.html"
    browser = DevTools(chromium, tmp_path / "profile")
    try:
        browser.open_page()
        browser.send("Page.navigate", {"url": report.as_uri()})
        browser.wait_for("Page.loadEventFired", timeout=120)
        deadline = time.monotonic() + 120
        while not browser.evaluate(PLOTS_DRAWN):
            assert time.monotonic() < deadline, "the interactive plots never finished drawing"
            time.sleep(0.5)
        time.sleep(1)  # let WebGL finish its first frame before the screenshot
        facts = browser.evaluate(PAGE_FACTS)
        shot = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"})["data"])
    finally:
        browser.close()

    (tmp_path / "report.png").write_bytes(shot)
    if os.environ.get("REPORT_SCREENSHOT"):
        Path(os.environ["REPORT_SCREENSHOT"]).write_bytes(shot)
    assert shot.startswith(b"\x89PNG") and len(shot) > 10_000

    assert facts["images"], "the report has no images"
    not_loaded = [i["name"] for i in facts["images"] if not (i["complete"] and i["width"] > 0)]
    assert not not_loaded, f"images that did not load: {not_loaded}"
    assert facts["captions"] == len(facts["images"]) + len(facts["plots"])
    assert len(facts["plots"]) == 4  # one interactive view per dataset x model of the tiny study
    for plot in facts["plots"]:
        assert plot["traces"] > 0 and plot["svg"] > 0 and plot["canvas"] > 0 and plot["height"] > 300, plot
    assert facts["answers"] >= 3
    # The page opens on the answers: a card per study (the tiny config names none: one), on the first screen.
    assert facts["cards"] == 1 and facts["verdicts"] >= 1
    assert facts["cardsTop"] < facts["screen"], facts
    assert "Config file: tiny.yaml (another file)." in facts["provenance"]

    assert console_errors(browser.events) == []
    requested = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requested and all(url.startswith(LOCAL_SCHEMES) for url in requested), [
        url[:120] for url in requested if not url.startswith(LOCAL_SCHEMES)
    ]
