"""Screenshot the first screen of a finished report, as docs/report-screenshot.png keeps it.

    python bench/report_screenshot.py results/report/report.html docs/report-screenshot.png

Opens the report in Debian's headless Chromium (`/usr/bin/chromium`) through the browser test's DevTools
client (tests/test_report_browser.py), 1280 x 1600 pixels, after its interactive plots have drawn.
"""

import argparse
import base64
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_report_browser import CHROMIUM, PLOTS_DRAWN, DevTools  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as profile:
        browser = DevTools(CHROMIUM, Path(profile))
        try:
            browser.open_page()
            browser.send("Page.navigate", {"url": args.report.resolve().as_uri()})
            browser.wait_for("Page.loadEventFired", timeout=120)
            deadline = time.monotonic() + 120
            while not browser.evaluate(PLOTS_DRAWN) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(1)  # let WebGL finish its first frame
            shot = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"})["data"])
        finally:
            browser.close()
    args.png.write_bytes(shot)
    print(f"wrote {args.png} ({len(shot)} bytes)")


if __name__ == "__main__":
    main()
