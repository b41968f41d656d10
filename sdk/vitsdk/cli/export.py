"""`vitsdk export`: a model, checkpoint or pruned artifact -> a verified bundle for phones (and FPGAs).

The target list, their precisions and the help text all come from `vitsdk.converters.targets.TARGETS`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vitsdk.atomic import check_writable
from vitsdk.cli.app import app
from vitsdk.cli.console import console, print_json
from vitsdk.converters.targets import all_precisions, help_text, list_targets

_TARGET_HELP = "Target or platform: " + ", ".join(list_targets()) + " (see Targets above)."


@app.command(help="Export a model to a bundle (manifest.json + .pte/.tflite/.mlpackage + reference data), "
                  "verified in the real runtimes against PyTorch.\n\nTargets:\n\n" +
                  "\n\n".join(help_text().splitlines()))
def export(
    model: str = typer.Argument(..., help="Registry name, checkpoint (.safetensors/.pth), training run folder "
                                           "or pruned artifact folder (with sparsity.json)."),
    output: Path = typer.Option(..., "--output", "-o", help="Bundle folder to create."),
    target: str = typer.Option("android", "--target", "-t", help=_TARGET_HELP),
    precision: Optional[list[str]] = typer.Option(
        None, "--precision", "-p", help=f"Precision(s), repeat or comma-separate: {', '.join(all_precisions())}. "
                                        "Each file target gets those it supports; default: each target's default."),
    keep_rate: Optional[float] = typer.Option(None, help="Token keep rate at the pruning blocks, in (0, 1]."),
    img_size: Optional[int] = typer.Option(None, help="Input size in pixels (pos_embed is resampled)."),
    attn_keep: Optional[float] = typer.Option(None, help="Attention keys kept per row, in (0, 1] (1 turns attention "
                                                         "sparsity off, e.g. for the fpga target)."),
    calib_data: Optional[str] = typer.Option(None, help="Calibration data for int8: fashion-mnist, an image "
                                                        "folder or an .npz (train split)."),
    calib_samples: int = typer.Option(128, help="Calibration images."),
    accuracy_data: Optional[str] = typer.Option(None, help="Measure top-1 of PyTorch and every executed file on "
                                                           "this dataset's test split."),
    accuracy_samples: int = typer.Option(1000, help="Test images for --accuracy-data."),
    reference_samples: int = typer.Option(8, help="Reference inputs stored in the bundle and verified."),
    allow_mismatch: bool = typer.Option(False, "--allow-mismatch", help="Keep quantized files whose parity "
                                        "exceeds the tolerance (judge them by --accuracy-data); fp32 must match."),
    coreml_target: str = typer.Option("iOS17", help="Core ML minimum deployment target."),
    coreml_compression: str = typer.Option("auto", help="Core ML weight compression: auto (sparse for a pruned "
                                           "model, else none), none, sparse (keeps pruned zeros sparse), "
                                           "palettized (8-bit lookup tables)."),
    board: str = typer.Option("zcu102", "--board", help="fpga target: the board its engine is sized for (an "
                                                        "unknown name lists the known ones)."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing bundle at --output."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON instead of the table."),
) -> None:
    """Export a model to a verified bundle."""
    check_writable(output, "--output", is_dir=True)
    from vitsdk.converters import ExportOptions, export as run_export

    precisions = tuple(p.strip() for item in (precision or []) for p in item.split(",") if p.strip()) or None
    options = ExportOptions(target=target, precisions=precisions, calib_data=calib_data,
                            calib_samples=calib_samples, reference_samples=reference_samples,
                            accuracy_data=accuracy_data, accuracy_samples=accuracy_samples,
                            allow_mismatch=allow_mismatch, force=force, coreml_target=coreml_target,
                            coreml_compression=coreml_compression, board=board)
    log = (lambda line: None) if as_json else (lambda line: console.print(line, highlight=False))
    with console.status("exporting...", spinner="dots") if not as_json else _null():
        bundle = run_export(model, output=output, options=options, keep_rate=keep_rate, img_size=img_size,
                            attn_keep=attn_keep, log=log)
    if as_json:
        print_json(bundle.manifest)
        return
    console.print(f"[green]bundle[/green] {bundle.root} ({len(bundle.files)} files, manifest.json)")
    runtimes = {f.runtime for f in bundle.files}
    device = "host" if runtimes & {"executorch", "litert"} else f"fpga --board {board}" if "fpga" in runtimes \
        else "ios"
    console.print(f"next: [bold]vitsdk bench {bundle.root} --device {device}[/bold]", highlight=False)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
