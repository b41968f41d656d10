"""The self-contained HTML report: inline CSS, inline SVG charts, one small inline script (table
sorting). No network: a Content-Security-Policy allows only that script (by hash) and inline styles,
so text from a results file can never run as a script even if escaping were missed somewhere.
"""
from __future__ import annotations

import base64
from pathlib import Path

from vitsdk.formats.results import PLATFORMS
from vitsdk.hashing import bytes_sha256
from vitsdk.report.compute import COLUMNS, Entry, Report
from vitsdk.report.links import href
from vitsdk.report.svg import Bar, Point, bar_chart, breakdown_chart, esc, pareto_chart
from vitsdk.report.tables import numerics_label

CSS = """
body{font-family:system-ui,'DejaVu Sans',sans-serif;margin:24px;color:#111;background:#fff;}
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #bbb}
p.meta{color:#333;margin:2px 0}
table{border-collapse:collapse;font-size:12.5px} th,td{border:1px solid #bbb;padding:4px 6px;vertical-align:top}
th{background:#eee;text-align:left} #summary th{cursor:pointer}
td.num{text-align:right;white-space:nowrap} td.num a{color:#0645ad;text-decoration:none;font-weight:600}
.how{display:block;font-size:11px;color:#333;font-weight:normal;white-space:normal;max-width:150px;margin-left:auto} td:first-child .how{margin-left:0}
.b-estimated{font-style:italic} .b-estimated::before{content:"≈ "} .b-simulated{font-style:italic}
.b-unavailable{color:#555} td.pareto::after{content:" ◆ Pareto";font-size:11px}
code{font-size:12px;word-break:break-all} #provenance .how{max-width:none;margin-left:0;overflow-wrap:anywhere} figure{margin:10px 0 22px} figcaption{font-size:13px;margin:4px 0}
.problems li{margin:3px 0} .status-failed{background:repeating-linear-gradient(45deg,#fff,#fff 6px,#eee 6px,#eee 12px)}
"""

SCRIPT = """(function(){
var table=document.getElementById('summary');
if(table){var heads=table.tHead.rows[0].cells;
for(var i=0;i<heads.length;i++){(function(col){heads[col].tabIndex=0;
heads[col].addEventListener('click',function(){sortBy(col);});
heads[col].addEventListener('keydown',function(e){if(e.key==='Enter'){sortBy(col);}});})(i);}
function key(row,col){var v=row.cells[col].getAttribute('data-v');var n=parseFloat(v);return isNaN(n)?null:n;}
function sortBy(col){var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
var dir=(table.getAttribute('data-col')===String(col)&&table.getAttribute('data-dir')==='asc')?-1:1;
rows.sort(function(a,b){var x=key(a,col),y=key(b,col);
if(x!==null&&y!==null){return (x-y)*dir;} if(x!==null||y!==null){return x===null?1:-1;}
return a.cells[col].textContent.localeCompare(b.cells[col].textContent)*dir;});
rows.forEach(function(r){body.appendChild(r);});
table.setAttribute('data-col',String(col));table.setAttribute('data-dir',dir>0?'asc':'desc');}}
document.body.setAttribute('data-ready','1');
})();"""


def _script_hash() -> str:
    return base64.b64encode(bytes.fromhex(bytes_sha256(SCRIPT.encode()))).decode()


def _cell(entry: Entry, key: str, link: str) -> str:
    column = next(c for c in COLUMNS if c.key == key)
    figure = entry.figures[key]
    if figure.value is None:
        reason = entry.energy_note if key == "energy_mj" else "unavailable"
        return (f'<td class="num b-unavailable" data-v=""><a href="{esc(link)}">—</a>'
                f'<span class="how">{esc(reason)}</span></td>')
    pareto = " pareto" if key == "energy_mj" and entry.pareto else ""
    return (f'<td class="num{pareto}" data-v="{figure.value!r}"><a href="{esc(link)}" title="{esc(entry.path)}">'
            f'{esc(column.text(figure))}</a><span class="how b-{esc(figure.basis)}">{esc(figure.basis)} · '
            f'{esc(figure.method)}</span></td>')


def _summary_table(report: Report, out_dir: Path) -> str:
    heads = ["Variant", "Platform", "Device", "Runtime", *[f"{c.heading} ({c.unit})" for c in COLUMNS],
             "Status"]
    rows = []
    for e in report.entries:
        link = href(e.path, out_dir)
        error = f'<span class="how">{esc(e.document["error"])}</span>' if e.document.get("error") else ""
        rows.append(
            f'<tr id="{e.id}" class="status-{esc(e.status)}"><td data-v="">{esc(e.variant.kind)}'
            f'<span class="how">{esc(e.variant.detail)}</span><span class="how">{esc(e.variant.model_name or "model ?")}'
            f'</span></td>'
            f'<td>{esc(e.platform)}</td><td>{esc(e.device)}</td><td>{esc(e.runtime)}'
            f'<span class="how">{esc(e.document["runtime"].get("version") or "version unknown")}</span></td>'
            + "".join(_cell(e, c.key, link) for c in COLUMNS)
            + f'<td><a href="{esc(link)}">{esc(e.status)}</a>{error}</td></tr>')
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    return f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _bars(report: Report, key: str, out_dir: Path) -> list[Bar]:
    column = next(c for c in COLUMNS if c.key == key)
    bars = []
    for e in report.entries:
        figure = e.figures[key]
        if figure.value is None:
            note = e.energy_note if key == "energy_mj" else f"{e.status}: {e.document.get('error') or 'no figure'}"
        else:
            note = f"{column.text(figure)} · {figure.basis}" + (f" ({figure.method})" if key == "energy_mj" else "")
        bars.append(Bar(group=f"{e.variant.model_name or 'model ?'} · {e.variant.label}", label=e.label,
                        value=figure.value, error=figure.uncertainty, basis=figure.basis, platform=e.platform,
                        href=href(e.path, out_dir), note=note))
    return bars


def _points(report: Report, out_dir: Path) -> list[Point]:
    points = []
    for e in report.entries:
        energy, accuracy = e.figures["energy_mj"], e.figures["accuracy"]
        if e.status == "failed" or energy.value is None or energy.value <= 0 or accuracy.value is None:
            continue
        points.append(Point(energy.value, accuracy.value * 100, f"{e.variant.kind} · {e.platform}", energy.basis,
                            e.platform, href(e.path, out_dir), e.pareto))
    return points


def _breakdown(report: Report) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for e in report.entries:
        counts.setdefault(e.platform, {}).setdefault(e.energy_basis, 0)
        counts[e.platform][e.energy_basis] += 1
    return {p: counts[p] for p in PLATFORMS if p in counts}


def _provenance(report: Report, out_dir: Path) -> str:
    rows = []
    for e in report.entries:
        d = e.document
        dev, rt, model = d["device"], d["runtime"], d["model"]
        device = " · ".join(str(v) for v in (dev["name"], dev.get("manufacturer"), dev.get("model"), dev.get("soc"),
                                             f"{dev['os']} {dev['os_version']}",
                                             f"API {dev['api_level']}" if dev.get("api_level") else None) if v)
        runtime = " · ".join(str(v) for v in (rt["name"], rt.get("version") or "version unknown", rt.get("delegate"),
                                              f"{rt['threads']} threads" if rt.get("threads") else None,
                                              rt.get("compute_units")) if v)
        tool = d.get("tool") or {}
        energy = d["energy"]
        params = energy.get("model_parameters") or {}
        estimate = "; ".join(f"{k}={v}" for k, v in params.items())
        thermal = d["thermal"]
        rows.append(
            f'<tr><td><a href="{esc(href(e.path, out_dir))}">{esc(e.path.name)}</a><span class="how">'
            f'{esc(e.path)}</span></td><td>{esc(d["run_id"])}<span class="how">{esc(d["created_utc"])}</span></td>'
            f"<td>{esc(device)}</td><td>{esc(runtime)}</td>"
            f'<td>{esc(model["file"])} ({esc(model["format"])}, {esc(model.get("precision") or "?")})'
            f'<span class="how">model sha256 <code>{esc(model["sha256"])}</code></span>'
            f'<span class="how">bundle manifest sha256 <code>{esc(model.get("manifest_sha256") or "not recorded")}'
            f"</code></span></td>"
            f'<td>{esc(e.energy_note)}{f"<span class=how>estimate: {esc(estimate)}</span>" if estimate else ""}'
            f'</td><td>{esc(_thermal(thermal["before"]))} → {esc(_thermal(thermal["after"]))}'
            f'<span class="how">numerics {esc(numerics_label(d["numerics"]))}</span></td>'
            f'<td>{esc(tool.get("name", "?"))} {esc(tool.get("version", ""))}</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("Results file", "Run / date", "Device", "Runtime", "Model file",
                                             "Energy method", "Thermal", "Tool"))
    return f'<table id="provenance"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _thermal(state: dict) -> str:
    parts = [state.get("state"), f"{state['temperature_c']:g} °C" if state.get("temperature_c") is not None else None]
    return " ".join(p for p in parts if p) or "unknown"


def _problems(report: Report) -> str:
    if not report.problems:
        return "<p>None: every file matched the results schema.</p>"
    items = "".join(f'<li><code>{esc(p.path)}</code> at <code>{esc(p.where)}</code>: {esc(p.message)}</li>'
                    for p in report.problems)
    return f'<ul class="problems">{items}</ul>'


DEFINITIONS = (
    ("Latency", "median of the timed runs (measured); simulated: cycles of a cycle-accurate simulation of the "
                "hardware / its stated clock; estimated: an analytical model. Each cell says which."),
    ("Throughput", "1000 / latency, single-stream inferences per second."),
    ("Energy / inference", "energy above the idle baseline per inference, ± one standard error where known."),
    ("Inferences / J", "1000 / energy per inference (mJ)."),
    ("FPS / W", "throughput / average power (idle included), where the average power is known."),
    ("Average power", "mean power while running, idle included, measured the same way as the energy."),
    ("Model size / accuracy", "recorded: the model file's size, and top-1 accuracy from the bundle manifest."),
)


def render_html(report: Report, out_dir: Path) -> str:
    platforms = report.platforms
    n_ok = len(report.entries)
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src 'sha256-{_script_hash()}'")
    latency = bar_chart("chart-latency", "Latency per platform and variant", "latency per inference (ms, median)",
                        _bars(report, "latency_ms", out_dir), platforms)
    energy = bar_chart("chart-energy", "Energy per inference per platform and variant",
                       "energy per inference above idle (mJ), error bar = one standard error",
                       _bars(report, "energy_mj", out_dir), platforms)
    pareto = pareto_chart("chart-pareto", "Accuracy vs energy per inference, with the Pareto front",
                          "energy per inference (mJ)", "top-1 accuracy (%)", _points(report, out_dir), platforms,
                          "No result has both an energy figure and a known accuracy (accuracy comes from the "
                          "bundle manifest: pass --bundle)")
    breakdown = breakdown_chart("chart-breakdown", "Energy figures by basis, per platform", _breakdown(report))
    definitions = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in DEFINITIONS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(report.title)}</title><style>{CSS}</style></head>
<body>
<h1>{esc(report.title)}</h1>
<p class="meta">Generated {esc(report.generated_utc)} from {n_ok} results file{"s" if n_ok != 1 else ""}
({len(report.problems)} skipped); platforms: {esc(", ".join(platforms) or "none")}.
Every number links to its results file and says whether it is <b>measured</b>, <b>simulated</b> (italic) or <b>estimated</b> (≈, italic)
and how. Click a column heading to sort.</p>
<h2>Summary</h2>
{_summary_table(report, out_dir)}
<h2>Charts</h2>
<figure>{latency}<figcaption>Latency: one bar per results file, grouped by model variant; the fill pattern and
the legend name the platform, dashed bars are estimates.</figcaption></figure>
<figure>{energy}<figcaption>Energy per inference (above the idle baseline), with its method;
results without an energy figure say why.</figcaption></figure>
<figure>{pareto}<figcaption>Accuracy against energy per inference: marker shape = platform, hollow = estimated
energy; the dashed step line joins the Pareto-optimal points (no other point is as cheap and more accurate).
</figcaption></figure>
<figure>{breakdown}<figcaption>How each platform's energy figures were obtained.</figcaption></figure>
<h2>Definitions</h2><ul>{definitions}</ul>
<h2>Provenance</h2>
{_provenance(report, out_dir)}
<h2>Skipped files</h2>
{_problems(report)}
<script>{SCRIPT}</script>
</body></html>
"""
