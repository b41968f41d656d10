"""`vitsdk report`: results files from host, phones and FPGA -> one energy report (HTML, Markdown, JSON, CSV).

    from vitsdk.report import build_report
    written = build_report(["results/"], "report.html")     # also writes report.json beside it

Pipeline: `load` (validate against schemas/results.schema.json, skip bad files with the JSON path of the
problem) -> `compute.build` (variant, figures, Pareto front, groups) -> a renderer from `FORMATS`.
"""
from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vitsdk.atomic import write_text
from vitsdk.errors import UserError, unknown
from vitsdk.report.compute import COLUMNS, Entry, Figure, Report, build, pareto_front
from vitsdk.report.load import Loaded, Problem, load


def _json(report: Report, out_dir: Path) -> str:
    from vitsdk.report.tables import report_dict

    return json.dumps(report_dict(report, out_dir), indent=2) + "\n"


def _html(report: Report, out_dir: Path) -> str:
    from vitsdk.report.html import render_html

    return render_html(report, out_dir)


def _md(report: Report, out_dir: Path) -> str:
    from vitsdk.report.tables import render_markdown

    return render_markdown(report, out_dir)


def _csv(report: Report, out_dir: Path) -> str:
    from vitsdk.report.tables import render_csv

    return render_csv(report, out_dir)


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str
    render: Callable[[Report, Path], str]
    help: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("html", ".html", _html, "self-contained page: table, charts, provenance (plus report.json beside it)"),
    Format("md", ".md", _md, "Markdown table (plus report.json beside it)"),
    Format("json", ".json", _json, "every figure with its basis and method, for CI dashboards"),
    Format("csv", ".csv", _csv, "one row per results file (plus report.json beside it)"),
)}


def format_for(out: Path, fmt: str | None) -> Format:
    """The format named, else the one the output suffix implies, else html."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise unknown("report format", fmt, FORMATS)
        return FORMATS[fmt]
    for candidate in FORMATS.values():
        if out.suffix.lower() == candidate.suffix:
            return candidate
    return FORMATS["html"]


def make_report(paths: Sequence[str | os.PathLike], bundles: Sequence[str | os.PathLike] = (),
                title: str = "vitsdk energy report") -> Report:
    """Reads, validates and computes; raises UserError when no results file is usable."""
    if not paths:
        raise UserError("give at least one results file or folder")
    loaded = load(paths, bundles)
    if not loaded.results:
        detail = "; ".join(str(p) for p in loaded.problems[:3]) or "no .json files found"
        raise UserError(f"no usable results files in {', '.join(map(str, paths))} ({detail})")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return build(loaded, title=title, generated_utc=now)


def build_report(paths: Sequence[str | os.PathLike], out: str | os.PathLike, fmt: str | None = None,
                 bundles: Sequence[str | os.PathLike] = (), title: str = "vitsdk energy report",
                 json_beside: bool = True) -> tuple[Report, list[Path]]:
    """Writes the report to `out` (atomically) and, for html/md/csv, `report.json` data beside it.

    Returns the report and the files written. Bad results files are skipped and listed in
    `report.problems` (and in the outputs); no usable file at all is a UserError.
    """
    out = Path(out)
    chosen = format_for(out, fmt)
    report = make_report(paths, bundles, title)
    out_dir = out.parent if str(out.parent) else Path(".")
    written = []
    write_text(out, chosen.render(report, out_dir))
    written.append(out)
    data = out.with_suffix(".json")
    if json_beside and chosen.name != "json" and data != out:
        write_text(data, FORMATS["json"].render(report, out_dir))
        written.append(data)
    return report, written


__all__ = ["COLUMNS", "FORMATS", "Entry", "Figure", "Format", "Loaded", "Problem", "Report", "build",
           "build_report", "format_for", "load", "make_report", "pareto_front"]
