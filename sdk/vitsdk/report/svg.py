"""Inline SVG charts that read without colour: each platform has a fill pattern and a marker shape,
estimated figures are dashed and hollow, and every bar and point carries a text label.

All text from results files goes through `esc` (HTML/XML escaping, quotes included).
"""
from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass

from vitsdk.formats.results import PLATFORMS

# platform (every one of PLATFORMS) -> (colour, pattern kind, marker shape); the pattern and shape carry the
# meaning, colour only helps.
STYLE = {"host": ("#1f5f99", "solid", "circle"), "android": ("#2a7a3b", "hatch", "square"),
         "ios": ("#6d3f9e", "dots", "triangle"), "fpga": ("#b35900", "cross", "diamond"),
         "browser": ("#a3164d", "stripes", "pentagon")}
FONT = "font-family:system-ui,'DejaVu Sans',sans-serif"


# Characters a results file must not smuggle into the page: C0/C1 controls (NUL, ESC, ...) and the
# bidirectional overrides/isolates that can make text read differently from what it is (U+202E, ...).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def esc(text: object) -> str:
    """HTML-escaped text with every unsafe character shown as a visible escape (e.g. '\\u202e')."""
    safe = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))
    return html.escape(safe, quote=True)


def defs(prefix: str) -> str:
    """Fill patterns per platform (ids prefixed per chart so one page can hold many charts)."""
    out = []
    for platform in PLATFORMS:
        colour, kind, _ = STYLE[platform]
        pid = f"{prefix}-{platform}"
        if kind == "solid":
            out.append(f'<pattern id="{pid}" width="4" height="4" patternUnits="userSpaceOnUse">'
                       f'<rect width="4" height="4" fill="{colour}"/></pattern>')
        elif kind == "hatch":
            out.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
                       f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
                       f'<rect width="3" height="6" fill="{colour}"/></pattern>')
        elif kind == "dots":
            out.append(f'<pattern id="{pid}" width="5" height="5" patternUnits="userSpaceOnUse">'
                       f'<rect width="5" height="5" fill="#fff"/><circle cx="2.5" cy="2.5" r="1.6" fill="{colour}"/>'
                       f'</pattern>')
        elif kind == "stripes":
            out.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
                       f'<rect width="6" height="6" fill="#fff"/><rect width="6" height="3" fill="{colour}"/></pattern>')
        else:
            out.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">'
                       f'<rect width="6" height="6" fill="#fff"/><path d="M0 3H6M3 0V6" stroke="{colour}" '
                       f'stroke-width="1.6"/></pattern>')
    out.append(f'<pattern id="{prefix}-est" width="6" height="6" patternUnits="userSpaceOnUse" '
               f'patternTransform="rotate(-45)"><rect width="6" height="6" fill="#fff"/>'
               f'<rect width="2" height="6" fill="#555"/></pattern>')
    return "<defs>" + "".join(out) + "</defs>"


@dataclass(frozen=True)
class Scale:
    """Linear, or logarithmic when the values span more than `log_span`x; maps value -> pixel."""

    lo: float
    hi: float
    px0: float
    px1: float
    log: bool

    @classmethod
    def fit(cls, values: list[float], px0: float, px1: float, log_span: float = 30.0,
            zero: bool = True) -> "Scale":
        positive = [v for v in values if v > 0]
        if not positive:
            return cls(0.0, 1.0, px0, px1, False)
        lo, hi = min(positive), max(positive)
        if hi / lo > log_span:
            return cls(10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi)), px0, px1, True)
        if zero:
            step = _nice_step(hi / 5)
            return cls(0.0, math.ceil(hi * 1.05 / step) * step, px0, px1, False)
        pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
        step = _nice_step((hi - lo + 2 * pad) / 5)
        return cls(math.floor((lo - pad) / step) * step, math.ceil((hi + pad) / step) * step, px0, px1, False)

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.lo)
            t = (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (value - self.lo) / ((self.hi - self.lo) or 1.0)
        return self.px0 + t * (self.px1 - self.px0)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0 ** e for e in range(round(math.log10(self.lo)), round(math.log10(self.hi)) + 1)]
        step = _nice_step((self.hi - self.lo) / 5)
        count = int(round((self.hi - self.lo) / step))
        return [self.lo + i * step for i in range(count + 1)]


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def _short(text: str, limit: int) -> str:
    """Long notes are cut in the chart (the full text is in the hover title and the table)."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def tick_text(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Bar:
    group: str
    label: str
    value: float | None
    error: float | None
    basis: str                  # measured | estimated | unavailable
    platform: str
    href: str
    note: str                   # text shown after the bar (value and basis) or instead of it


def legend(prefix: str, platforms: list[str], x: float, y: float, estimated_note: bool = True) -> str:
    parts = []
    for platform in platforms:
        _, _, shape = STYLE[platform]
        parts.append(f'<rect x="{x:.0f}" y="{y - 10:.0f}" width="22" height="12" fill="url(#{prefix}-{platform})" '
                     f'stroke="#222"/>{marker(shape, x + 32, y - 4, 5, True, STYLE[platform][0])}'
                     f'<text x="{x + 42:.0f}" y="{y:.0f}" font-size="12">{esc(platform)}</text>')
        x += 60 + 7 * len(platform)
    if estimated_note:
        parts.append(f'<rect x="{x:.0f}" y="{y - 10:.0f}" width="22" height="12" fill="#fff" stroke="#222" '
                     f'stroke-dasharray="3 2"/><text x="{x + 28:.0f}" y="{y:.0f}" font-size="12">dashed, hollow, '
                     f'"est." = estimated</text>')
    return "".join(parts)


def marker(shape: str, cx: float, cy: float, r: float, filled: bool, colour: str) -> str:
    fill = colour if filled else "#fff"
    dash = "" if filled else ' stroke-dasharray="2 1.5"'
    style = f'fill="{fill}" stroke="{colour}" stroke-width="1.8"{dash}'
    if shape == "circle":
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" {style}/>'
    if shape == "square":
        return f'<rect x="{cx - r:.1f}" y="{cy - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" {style}/>'
    if shape == "triangle":
        return (f'<polygon points="{cx:.1f},{cy - r * 1.2:.1f} {cx + r * 1.1:.1f},{cy + r * 0.9:.1f} '
                f'{cx - r * 1.1:.1f},{cy + r * 0.9:.1f}" {style}/>')
    if shape == "pentagon":
        points = " ".join(f"{cx + r * 1.2 * math.sin(k * 2 * math.pi / 5):.1f},"
                          f"{cy - r * 1.2 * math.cos(k * 2 * math.pi / 5):.1f}" for k in range(5))
        return f'<polygon points="{points}" {style}/>'
    return (f'<polygon points="{cx:.1f},{cy - r * 1.3:.1f} {cx + r * 1.1:.1f},{cy:.1f} {cx:.1f},{cy + r * 1.3:.1f} '
            f'{cx - r * 1.1:.1f},{cy:.1f}" {style}/>')


def bar_chart(chart_id: str, title: str, axis: str, bars: list[Bar], platforms: list[str]) -> str:
    """Horizontal bars grouped by variant; one bar per results file, linked to it."""
    width, label_x, px0, px1 = 1180, 330, 340, 760
    top = 46
    rows: list[tuple[str, Bar | str]] = []
    last_group = None
    for bar in bars:
        if bar.group != last_group:
            rows.append(("group", bar.group))
            last_group = bar.group
        rows.append(("bar", bar))
    height = top + 24 * len(rows) + 44
    values = [b.value + (b.error or 0) for b in bars if b.value is not None] + \
             [b.value for b in bars if b.value is not None]
    scale = Scale.fit(values, px0, px1)
    out = [f'<svg id="{chart_id}" class="chart" role="img" aria-labelledby="{chart_id}-title" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="{FONT}" '
           f'xmlns="http://www.w3.org/2000/svg"><title id="{chart_id}-title">{esc(title)}</title>',
           defs(chart_id), f'<rect width="{width}" height="{height}" fill="#fff"/>',
           legend(chart_id, platforms, 10, 20)]
    y = top
    for kind, item in rows:
        if kind == "group":
            out.append(f'<text x="8" y="{y + 15}" font-size="13" font-weight="bold">{esc(item)}</text>')
            y += 24
            continue
        bar = item
        assert isinstance(bar, Bar)
        out.append(f'<a href="{esc(bar.href)}"><title>{esc(bar.label)}: {esc(bar.note)}</title>')
        out.append(f'<text x="{label_x}" y="{y + 15}" font-size="12" text-anchor="end">{esc(_short(bar.label, 48))}</text>')
        if bar.value is None:
            out.append(f'<text x="{px0 + 4}" y="{y + 15}" font-size="12" font-style="italic" fill="#444">'
                       f'{esc(_short(bar.note, 120))}</text></a>')
            y += 24
            continue
        end = scale(bar.value)
        estimated = bar.basis == "estimated"
        stroke = ' stroke-dasharray="5 3"' if estimated else ""
        opacity = ' fill-opacity="0.55"' if estimated else ""
        out.append(f'<rect class="bar" x="{px0}" y="{y + 4}" width="{max(end - px0, 1):.1f}" height="15" '
                   f'fill="url(#{chart_id}-{bar.platform})"{opacity} stroke="#222" stroke-width="1.2"{stroke}/>')
        text_x = end
        if bar.error:
            lo, hi = scale(max(bar.value - bar.error, scale.lo or 1e-12)), scale(bar.value + bar.error)
            out.append(f'<path d="M{lo:.1f} {y + 11.5}H{hi:.1f}M{lo:.1f} {y + 7}V{y + 16}M{hi:.1f} {y + 7}V{y + 16}" '
                       f'stroke="#000" stroke-width="1.4"/>')
            text_x = max(text_x, hi)
        out.append(f'<text x="{text_x + 6:.1f}" y="{y + 15}" font-size="12">{esc(_short(bar.note, 64))}</text></a>')
        y += 24
    axis_y = y + 4
    out.append(f'<line x1="{px0}" y1="{top - 4}" x2="{px0}" y2="{axis_y}" stroke="#222"/>'
               f'<line x1="{px0}" y1="{axis_y}" x2="{px1}" y2="{axis_y}" stroke="#222"/>')
    for tick in scale.ticks():
        x = scale(tick)
        out.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 5}" stroke="#222"/>'
                   f'<text x="{x:.1f}" y="{axis_y + 18}" font-size="11" text-anchor="middle">{tick_text(tick)}</text>')
    scale_note = " (log scale)" if scale.log else ""
    out.append(f'<text x="{(px0 + px1) / 2:.0f}" y="{axis_y + 34}" font-size="12" text-anchor="middle">'
               f'{esc(axis + scale_note)}</text></svg>')
    return "".join(out)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    basis: str
    platform: str
    href: str
    pareto: bool


def pareto_chart(chart_id: str, title: str, x_axis: str, y_axis: str, points: list[Point],
                 platforms: list[str], empty_note: str) -> str:
    """Accuracy vs energy scatter; the Pareto front is a dashed step line and its points are ringed."""
    if not points:
        return (f'<svg id="{chart_id}" class="chart" role="img" aria-labelledby="{chart_id}-title" '
                f'viewBox="0 0 980 60" width="980" height="60" style="{FONT}" xmlns="http://www.w3.org/2000/svg">'
                f'<title id="{chart_id}-title">{esc(title)}</title><rect width="980" height="60" fill="#fff" '
                f'stroke="#999" stroke-dasharray="4 3"/><text x="16" y="35" font-size="14">{esc(empty_note)}</text>'
                f'</svg>')
    width, height = 980, 430
    px0, px1, py0, py1 = 80, 760, 380, 50
    out = [f'<svg id="{chart_id}" class="chart" role="img" aria-labelledby="{chart_id}-title" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="{FONT}" '
           f'xmlns="http://www.w3.org/2000/svg"><title id="{chart_id}-title">{esc(title)}</title>',
           defs(chart_id), f'<rect width="{width}" height="{height}" fill="#fff"/>',
           legend(chart_id, platforms, 10, 20)]
    out.append(f'<line x1="{px0}" y1="{py1}" x2="{px0}" y2="{py0}" stroke="#222"/>'
               f'<line x1="{px0}" y1="{py0}" x2="{px1}" y2="{py0}" stroke="#222"/>')
    xs = Scale.fit([p.x for p in points], px0 + 20, px1 - 20, log_span=20.0, zero=False)
    ys = Scale.fit([p.y for p in points], py0 - 15, py1 + 15, log_span=1e9, zero=False)
    for tick in xs.ticks():
        x = xs(tick)
        out.append(f'<line x1="{x:.1f}" y1="{py0}" x2="{x:.1f}" y2="{py0 + 5}" stroke="#222"/>'
                   f'<text x="{x:.1f}" y="{py0 + 18}" font-size="11" text-anchor="middle">{tick_text(tick)}</text>')
    for tick in ys.ticks():
        y = ys(tick)
        out.append(f'<line x1="{px0 - 5}" y1="{y:.1f}" x2="{px0}" y2="{y:.1f}" stroke="#222"/>'
                   f'<text x="{px0 - 8}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick_text(tick)}</text>')
    front = sorted((p for p in points if p.pareto), key=lambda p: p.x)
    if front:
        path = f"M{xs(front[0].x):.1f} {ys(front[0].y):.1f}"
        for a, b in zip(front, front[1:]):
            path += f"H{xs(b.x):.1f}V{ys(b.y):.1f}"
        out.append(f'<path class="front" d="{path}" fill="none" stroke="#000" stroke-width="1.6" '
                   f'stroke-dasharray="6 4"/>')
    placed: list[tuple[float, float, float]] = []        # (x0, x1, y) of labels already drawn
    for p in sorted(points, key=lambda p: (xs(p.x), -p.y)):
        x, y = xs(p.x), ys(p.y)
        colour, _, shape = STYLE[p.platform]
        ring = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="11" fill="none" stroke="#000" stroke-width="1"/>' \
            if p.pareto else ""
        est = " est." if p.basis == "estimated" else ""
        text = f"{p.label}{est}" + (" (front)" if p.pareto else "")
        label_y = _free_y(placed, x + 13, x + 13 + 6.3 * len(text), y - 5)
        leader = "" if label_y == y - 5 else \
            f'<line x1="{x + 6:.1f}" y1="{y:.1f}" x2="{x + 13:.1f}" y2="{label_y - 4:.1f}" stroke="#666"/>'
        out.append(f'<a href="{esc(p.href)}"><title>{esc(p.label)}: {p.x:.3g} mJ{est}, {p.y:.3g}%</title>'
                   f'{ring}{marker(shape, x, y, 6, p.basis != "estimated", colour)}{leader}'
                   f'<text x="{x + 13:.1f}" y="{label_y:.1f}" font-size="11">{esc(_short(text, 60))}</text></a>')
    scale_note = " (log scale)" if xs.log else ""
    out.append(f'<text x="{(px0 + px1) / 2:.0f}" y="{py0 + 36}" font-size="12" text-anchor="middle">'
               f'{esc(x_axis + scale_note)}</text>'
               f'<text x="18" y="{(py0 + py1) / 2:.0f}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 18 {(py0 + py1) / 2:.0f})">{esc(y_axis)}</text>'
               f'<text x="{px1 - 180}" y="{py1 - 8}" font-size="12">- - - Pareto front (ringed)</text></svg>')
    return "".join(out)


def _free_y(placed: list[tuple[float, float, float]], x0: float, x1: float, y: float) -> float:
    """A baseline near `y` where a label spanning x0..x1 overlaps no label placed before (then records it)."""
    for step in range(12):
        candidate = y + 13 * ((step + 1) // 2) * (1 if step % 2 else -1)
        if all(x1 < a or x0 > b or abs(candidate - c) >= 13 for a, b, c in placed):
            placed.append((x0, x1, candidate))
            return candidate
    placed.append((x0, x1, y))
    return y


def breakdown_chart(chart_id: str, title: str, counts: dict[str, dict[str, int]]) -> str:
    """Per platform, how many energy figures are measured, estimated or unavailable (stacked, labelled)."""
    width, px0, px1 = 980, 120, 900
    top = 46
    height = top + 30 * len(counts) + 20
    fills = {"measured": ("#333", "", "measured"), "estimated": (f"url(#{chart_id}-est)", ' stroke-dasharray="5 3"',
                                                                  "estimated"),
             "unavailable": ("#fff", ' stroke-dasharray="2 2"', "unavailable")}
    out = [f'<svg id="{chart_id}" class="chart" role="img" aria-labelledby="{chart_id}-title" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="{FONT}" '
           f'xmlns="http://www.w3.org/2000/svg"><title id="{chart_id}-title">{esc(title)}</title>',
           defs(chart_id), f'<rect width="{width}" height="{height}" fill="#fff"/>']
    x = 10
    for basis, (fill, dash, text) in fills.items():
        out.append(f'<rect x="{x}" y="10" width="22" height="12" fill="{fill}" stroke="#222"{dash}/>'
                   f'<text x="{x + 28}" y="20" font-size="12">{text}</text>')
        x += 120
    total_max = max((sum(c.values()) for c in counts.values()), default=1) or 1
    y = top
    for platform, by_basis in counts.items():
        out.append(f'<text x="{px0 - 8}" y="{y + 16}" font-size="12" text-anchor="end">{esc(platform)}</text>')
        x = float(px0)
        for basis, (fill, dash, text) in fills.items():
            n = by_basis.get(basis, 0)
            if not n:
                continue
            w = (px1 - px0) * n / total_max
            label = f"{n} {text}"
            backing = "#333" if basis == "measured" else "#fff"
            out.append(f'<rect class="seg" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="20" fill="{fill}" '
                       f'stroke="#222"{dash}/><rect x="{x + 3:.1f}" y="{y + 5}" width="{7 * len(label) + 6}" '
                       f'height="14" fill="{backing}"/><text x="{x + 6:.1f}" y="{y + 16}" font-size="12" '
                       f'fill="{"#fff" if basis == "measured" else "#000"}">{label}</text>')
            x += w
        y += 30
    out.append("</svg>")
    return "".join(out)
