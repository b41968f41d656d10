"""The report as data (report.json), Markdown, CSV and a rich terminal table: the same figures as the HTML."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from vitsdk.report.compute import COLUMNS, Entry, Report
from vitsdk.report.links import href

REPORT_SCHEMA = "vitsdk.report/1"


def numerics_label(numerics: dict) -> str:
    """'pass', or for integer files judged by agreement 'pass (top-1 100%, rel 0.41)': what the pass means."""
    if numerics.get("metric") != "top1_agree" or numerics.get("top1_agree") is None:
        return numerics["status"]
    return f"{numerics['status']} (top-1 {numerics['top1_agree']:.0%}, rel {numerics.get('rel_diff') or 0:.2g})"


def report_dict(report: Report, out_dir: Path) -> dict:
    """Everything the HTML shows, as JSON for CI dashboards (raw values in the units named)."""
    groups = []
    for (variant, platform), entries in report.groups.items():
        group = {"variant": variant, "platform": platform, "entries": [e.id for e in entries]}
        for key in ("latency_ms", "energy_mj"):
            valued = [e for e in entries if e.figures[key].value is not None]
            best = min(valued, key=lambda e: e.figures[key].value) if valued else None
            group[f"best_{key}"] = None if best is None else {"entry": best.id, **best.figures[key].to_dict()}
        groups.append(group)
    return {
        "schema": REPORT_SCHEMA,
        "title": report.title,
        "generated_utc": report.generated_utc,
        "columns": [{"key": c.key, "heading": c.heading, "display_unit": c.unit, "display_scale": c.scale}
                    for c in COLUMNS],
        "entries": [e.to_dict(href(e.path, out_dir)) for e in report.entries],
        "groups": groups,
        "pareto_front": [e.id for e in report.entries if e.pareto],
        "skipped": [p.to_dict() for p in report.problems],
    }


# Latency cells always say how they were obtained; other figures mark only what is not measured.
LATENCY_KEYS = ("latency_ms", "fps")
_BASIS_MARK = {"measured": "meas.", "simulated": "sim.", "estimated": "est."}


def basis_mark(basis: str) -> str:
    """The short label a table cell gives a figure's basis ('meas.', 'sim.', 'est.'; others as they are), in
    the report's tables and `vitsdk bench`'s."""
    return _BASIS_MARK.get(basis, basis)


def _cell_text(entry: Entry, key: str) -> str:
    column = next(c for c in COLUMNS if c.key == key)
    figure = entry.figures[key]
    text = column.text(figure)
    if figure.value is not None and (figure.basis == "estimated" or key in LATENCY_KEYS):
        text += f" ({basis_mark(figure.basis)})"
    return text


def _md(text: str) -> str:
    """Markdown table cells: escape what would break the table or render as HTML."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\n", " "))


def render_markdown(report: Report, out_dir: Path) -> str:
    lines = [f"# {_md(report.title)}", "",
             f"Generated {report.generated_utc} from {len(report.entries)} results files "
             f"({len(report.problems)} skipped). (est.) marks estimated figures, latency cells say meas./sim./est.; "
             f"each row links to its results file.",
             "", "| Variant | Model | Platform | Device | Runtime | "
             + " | ".join(f"{c.heading} ({c.unit})" for c in COLUMNS) + " | Energy method | File |",
             "|" + "---|" * (len(COLUMNS) + 7)]
    for e in report.entries:
        cells = [e.variant.label, e.variant.model_name or "—", e.platform, e.device, e.runtime,
                 *[_cell_text(e, c.key) for c in COLUMNS], e.energy_note]
        link = f"[{_md(e.path.name)}]({href(e.path, out_dir)})"
        lines.append("| " + " | ".join(_md(c) for c in cells) + f" | {link} |")
    front = [e for e in report.entries if e.pareto]
    if front:
        lines += ["", "Pareto front (accuracy vs energy): " + ", ".join(_md(e.variant.label + " on " + e.label)
                                                                      for e in front)]
    if report.problems:
        lines += ["", "## Skipped files", ""]
        lines += [f"- `{_md(str(p.path))}` at `{_md(p.where)}`: {_md(p.message)}" for p in report.problems]
    return "\n".join(lines) + "\n"


def render_csv(report: Report, out_dir: Path) -> str:
    """One row per results file; each figure as value (in its raw unit), basis and method columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    figure_keys = [c.key for c in COLUMNS] + ["net_power_w"]
    header = ["id", "file", "model", "variant", "variant_detail", "platform", "device", "runtime", "status"]
    for key in figure_keys:
        header += [key, f"{key}_basis", f"{key}_method"]
    header += ["energy_uncertainty_mj", "pareto"]
    writer.writerow(header)
    for e in report.entries:
        row = [e.id, href(e.path, out_dir), e.variant.model_name or "", e.variant.kind, e.variant.detail,
               e.platform, e.device, e.runtime, e.status]
        for key in figure_keys:
            f = e.figures[key]
            row += ["" if f.value is None else repr(f.value), f.basis, f.method]
        unc = e.figures["energy_mj"].uncertainty
        row += ["" if unc is None else repr(unc), "yes" if e.pareto else "no"]
        writer.writerow([_csv_safe(str(v)) for v in row])
    return buffer.getvalue()


def _csv_safe(text: str) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas: prefix text ones with a quote."""
    if text[:1] in ("=", "+", "@") or (text[:1] == "-" and not _is_number(text)):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


SHORT = {"latency_ms": "Latency", "energy_mj": "Energy", "inferences_per_j": "Inf/J", "fps_per_w": "FPS/W",
         "power_w": "Power", "accuracy": "Top-1"}


def print_summary(report: Report, console) -> None:
    """The rich terminal table: the same figures, estimated ones marked '≈'. A narrow terminal (< 120
    columns) gets fewer columns; every figure is in the report files."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    wide = console.width >= 120
    keys = tuple(SHORT) if wide else ("latency_ms", "energy_mj", "inferences_per_j", "accuracy")
    columns = {c.key: c for c in COLUMNS}
    table = Table(title=escape(report.title) + " (≈ estimated)", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("Variant", min_width=10, overflow="fold")
    table.add_column("Platform / runtime", min_width=12, overflow="fold")
    for key in keys:
        unit = "" if columns[key].unit in ("inf/J", "FPS/W") else f" {columns[key].unit}"
        table.add_column(SHORT[key] + unit, justify="right", no_wrap=True)
    if wide:
        table.add_column("Energy basis", min_width=9, overflow="fold")
    for e in report.entries:
        energy = e.document["energy"]
        basis = "unavailable" if energy["status"] == "unavailable" else f"{energy['status']} {energy['method']}"
        cells = []
        for key in keys:
            figure = e.figures[key]
            text = columns[key].number(figure)
            mark = "≈" if figure.value is not None and figure.basis == "estimated" else ""
            if figure.value is not None and key in LATENCY_KEYS:
                text += f" {basis_mark(figure.basis)}"
            cells.append(mark + text)
        where = f"{e.platform} {e.document['runtime']['name']}"
        table.add_row(escape(e.variant.kind), escape(where), *map(escape, cells), *([escape(basis)] if wide else []))
    console.print(table)
    if not wide:
        console.print("(— unavailable; FPS/W, power and energy methods: see the report or a wider terminal)")
    for p in report.problems:
        console.print(f"[yellow]skipped[/yellow] {escape(str(p))}", soft_wrap=True)
