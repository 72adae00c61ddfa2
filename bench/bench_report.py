"""Size of a finished study's HTML report and how long headless Chromium takes to open and draw it.

Run: `python bench/bench_report.py STUDY_DIR [--repeat 3]` (needs /usr/bin/chromium, as the browser test).

Prints the file's size, what it holds (embedded PNGs, interactive views, plotly.js, linked figures), and
per repeat the seconds from navigation to the load event and to every interactive plot drawn (WebGL on
SwiftShader, on the CPU), in a fresh browser profile each time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.test_report_browser import CHROMIUM, PLOTS_DRAWN, DevTools  # noqa: E402


def contents(html: str) -> dict[str, float]:
    """Megabytes of each kind of content in the page, and the number of linked figures."""
    pngs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    plots = re.findall(r"Plotly\.newPlot\(.*?\)\s*};?", html, flags=re.S)
    script = re.search(r'<script type="text/javascript">(.*?)</script>', html, flags=re.S)
    return {
        "png_mb": sum(map(len, pngs)) / 1e6,
        "pngs": len(pngs),
        "plots_mb": sum(map(len, plots)) / 1e6,
        "plots": len(re.findall(r'class="plot"', html)),
        "plotlyjs_mb": len(script.group(1)) / 1e6 if script else 0.0,
        "linked": len(re.findall(r'class="linked"', html)),
    }


def open_seconds(report: Path) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        browser = DevTools(CHROMIUM, Path(tmp) / "profile")
        try:
            browser.open_page()
            start = time.monotonic()
            browser.send("Page.navigate", {"url": report.as_uri()})
            browser.wait_for("Page.loadEventFired", timeout=300)
            loaded = time.monotonic() - start
            while not browser.evaluate(PLOTS_DRAWN) and time.monotonic() - start < 300:
                time.sleep(0.1)
            return loaded, time.monotonic() - start
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    report = (args.study_dir / "results" / "report" / "report.html").resolve()
    html = report.read_text(encoding="utf-8")
    found = contents(html)
    print(
        f"{report}: {report.stat().st_size / 1e6:.1f} MB; {found['pngs']} PNGs ({found['png_mb']:.1f} MB "
        f"base64), {found['plots']} interactive views ({found['plots_mb']:.1f} MB), plotly.js "
        f"{found['plotlyjs_mb']:.1f} MB, {found['linked']} linked figures"
    )
    times = [open_seconds(report) for _ in range(args.repeat)]
    for i, (loaded, drawn) in enumerate(times, 1):
        print(f"  open {i}: load event {loaded:.1f} s, every plot drawn {drawn:.1f} s")
    print(
        f"median: load {statistics.median(t[0] for t in times):.1f} s, drawn "
        f"{statistics.median(t[1] for t in times):.1f} s (target < 10 s)"
    )


if __name__ == "__main__":
    main()
