"""`vitsdk report`: results files from host, phones and FPGA -> one cross-platform energy report."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vitsdk.atomic import check_writable
from vitsdk.cli.app import app
from vitsdk.cli.console import console, err_console, print_json
from vitsdk.report import FORMATS, build_report, format_for

_FORMAT_HELP = "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values())


@app.command()
def report(
    paths: list[Path] = typer.Argument(..., help="Results files or folders (walked recursively for *.json)."),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="Where to write the report."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f",
                                      help=f"Output format, else taken from the -o suffix. {_FORMAT_HELP}"),
    bundle: list[Path] = typer.Option([], "--bundle", "-b",
                                      help="Bundle folder (manifest.json) the results came from, for the model "
                                           "variant and accuracy; repeatable. Manifests beside the results are "
                                           "found without it."),
    title: str = typer.Option("vitsdk energy report", help="Title of the report."),
    no_json: bool = typer.Option(False, "--no-json", help="Do not write report.json beside an html/md/csv report."),
    as_json: bool = typer.Option(False, "--json", help="Print the report data as JSON instead of the table."),
) -> None:
    """Validates every results file (bad ones are skipped with the JSON path of the problem), groups by model
    variant and platform, and writes latency, energy per inference, inferences/J, FPS/W, power, size and
    accuracy, each labelled measured or estimated with its method."""
    chosen = format_for(output, fmt)
    check_writable(output, "--output", is_dir=False)
    result, written = build_report(paths, output, chosen.name, bundles=bundle, title=title, json_beside=not no_json)
    if as_json:
        from vitsdk.report.tables import report_dict

        print_json(report_dict(result, output.parent))
        for problem in result.problems:
            err_console.print(f"skipped {problem}", markup=False, highlight=False)
    else:
        from vitsdk.report.tables import print_summary

        print_summary(result, console)
    where = err_console if as_json else console
    for path in written:
        where.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
