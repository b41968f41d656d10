"""The HTML report opened in a real headless Chromium (Debian `chromium`, installed by
scripts/setup_chromium.sh): the page renders its table and four charts, its one script runs under the
page's Content-Security-Policy with no console errors, and text from results files never runs.

Flags follow DESIGN.md's platform notes: headless, no sandbox (tests run as root), no GPU, no first-run,
no background networking, component updates or sync, and a fresh profile per launch.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vitsdk.report import build_report

from test_report import FIXTURES, hostile_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(autouse=True)
def _needs_chromium():
    """`make test` installs Chromium (scripts/setup_chromium.sh); its absence is a failure, not a skip."""
    if CHROMIUM is None:
        pytest.fail("Debian chromium is not installed: run scripts/setup_chromium.sh as root "
                    "(apt-get install chromium)")


FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0")
WIDTH, HEIGHT = 1400, 3600
# platform -> RGB of its chart colour (sdk/vitsdk/report/svg.py STYLE)
COLOURS = {"host": (0x1f, 0x5f, 0x99), "android": (0x2a, 0x7a, 0x3b), "ios": (0x6d, 0x3f, 0x9e),
           "fpga": (0xb3, 0x59, 0x00)}


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)


def console_errors(stderr: str) -> list[str]:
    """Console messages that are errors: uncaught exceptions and blocked scripts (CSP); the page logs nothing."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line
            and re.search(r"Uncaught|Refused|Error|violates|Content Security Policy", line)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The fixtures' report: its DOM after scripts ran, and a screenshot."""
    tmp = tmp_path_factory.mktemp("browser")
    page = tmp / "report.html"
    build_report([FIXTURES], page)
    dom = chromium(tmp, page, "--dump-dom")
    shot = tmp / "report.png"
    screenshot = chromium(tmp, page, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    assert dom.returncode == 0 and screenshot.returncode == 0, dom.stderr[-2000:] + screenshot.stderr[-2000:]
    return dom.stdout, dom.stderr + screenshot.stderr, shot


def test_script_ran_without_console_errors(rendered):
    dom, stderr, _ = rendered
    assert 'data-ready="1"' in dom           # the inline script ran: its CSP hash matches
    assert console_errors(stderr) == []


def test_dom_has_table_and_charts(rendered):
    dom = rendered[0]
    table = dom[dom.index('<table id="summary"'):dom.index("</table>", dom.index('<table id="summary"'))]
    assert len(re.findall(r'<tr id="r\d+"', table)) == 6
    charts = {name: dom[dom.index(f'<svg id="chart-{name}"'):] for name in ("latency", "energy", "pareto",
                                                                            "breakdown")}
    charts = {k: v[:v.index("</svg>")] for k, v in charts.items()}
    assert charts["latency"].count('class="bar"') == 6
    assert charts["energy"].count('class="bar"') == 5                    # iOS: unavailable, said in words
    assert "unavailable: iOS has no public instantaneous power API" in charts["energy"]
    assert charts["pareto"].count('class="front"') == 1 and charts["pareto"].count("(front)") == 3
    assert charts["breakdown"].count('class="seg"') == 4
    assert "1 estimated" in charts["breakdown"] and "1 unavailable" in charts["breakdown"]


def _bar_widths(dom: str, chart: str, platform: str) -> list[float]:
    """Widths of a chart's bars of one platform, in page order, as the SVG in the rendered DOM gives them."""
    svg = dom[dom.index(f'<svg id="chart-{chart}"'):]
    svg = svg[:svg.index("</svg>")]
    return [float(w) for w, fill in re.findall(r'<rect class="bar" x="[^"]*" y="[^"]*" width="([^"]*)" height="[^"]*" '
                                                r'fill="url\(#chart-[^-]+-(\w+)\)"', svg) if fill == platform]


def _painted_bars(image, rgb, x0: int = 0, x1: int = 1000) -> list[int]:
    """Horizontal bars painted in exactly `rgb` (a solid fill): per band of consecutive rows holding such
    pixels, the longest run along a row, top to bottom."""
    import numpy as np

    match = (np.abs(image[:, x0:x1] - np.array(rgb)) <= 2).all(axis=2)
    runs = []
    for y in np.nonzero(match.any(axis=1))[0]:
        row = np.concatenate([[0], match[y].astype(int), [0]])
        edges = np.flatnonzero(np.diff(row))
        runs.append((int(y), int((edges[1::2] - edges[::2]).max())))
    bands: list[list[tuple[int, int]]] = []
    for y, run in runs:
        if bands and y == bands[-1][-1][0] + 1:
            bands[-1].append((y, run))
        else:
            bands.append([(y, run)])
    return [max(run for _, run in band) for band in bands if len(band) >= 8]  # a bar is 15 px tall


def test_screenshot_shows_the_bars_the_svg_defines(rendered):
    """The host bars (solid fill) of the latency and energy charts appear in the screenshot, in order, as long
    as the SVG says (within the 1.2 px outline): the page really paints its charts at their scale, not just
    something of the right colour somewhere. A page with no charts, blank charts, or bars drawn at another
    length or in another order fails."""
    import numpy as np
    from PIL import Image

    dom, _, shot = rendered
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape == (HEIGHT, WIDTH, 3)
    expected = _bar_widths(dom, "latency", "host") + _bar_widths(dom, "energy", "host")
    assert len(expected) == 4 and len(set(round(w) for w in expected)) > 1, expected
    painted = _painted_bars(image, COLOURS["host"])  # also the charts' legend swatches, 20 px wide
    found = iter(painted)
    assert all(any(abs(got - want) <= 3 for got in found) for want in expected), \
        f"painted {painted} does not hold the SVG's bars {expected} in order"


def test_hostile_text_does_not_run(tmp_path):
    page = tmp_path / "hostile.html"
    build_report([hostile_results(tmp_path / "in")], page)
    dom = chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0
    assert "<title>vitsdk energy report</title>" in dom.stdout and "pwned" not in dom.stdout.split("</title>")[0]
    assert "<img" not in dom.stdout and 'data-ready="1"' in dom.stdout
    assert dom.stdout.count("<script") == 1                  # the report's own script, no injected element
    assert "&lt;script&gt;document.title=\"pwned\"&lt;/script&gt;" in dom.stdout     # shown as text
    assert console_errors(dom.stderr) == []
