"""`vitsdk bench`: latency and energy per inference of every model in a bundle, on host, Android, iOS, FPGA or
in a browser. The devices, their runners and the flags each takes are one table, `vitsdk.bench.devices`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from vitsdk.atomic import check_writable
from vitsdk.bench.devices import DEVICES, get_device
from vitsdk.cli.app import app
from vitsdk.cli.console import console, err_console, print_json
from vitsdk.errors import UserError, unknown


def _protocol(quick: bool, warmup_runs, warmup_seconds, min_runs, min_seconds, max_seconds, cooldown, idle_seconds,
              sample_ms):
    from vitsdk.bench.protocol import Protocol

    base = Protocol.quick() if quick else Protocol()
    overrides = {"warmup_runs": warmup_runs, "warmup_seconds": warmup_seconds, "min_runs": min_runs,
                 "min_seconds": min_seconds, "max_seconds": max_seconds, "cooldown_seconds": cooldown,
                 "idle_baseline_seconds": idle_seconds, "power_sample_period_ms": sample_ms}
    data = base.to_dict()
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Protocol.from_dict(data)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def print_table(results: list[tuple[Path, dict]]) -> None:
    from vitsdk.report.compute import latency_basis
    from vitsdk.report.tables import basis_mark, numerics_label

    table = Table(title="vitsdk bench")
    for col in ("model file", "runs", "load ms", "median ms", "p90 ms", "CV", "mJ/inf", "check"):
        table.add_column(col, justify="left" if col in ("model file", "check") else "right",
                         no_wrap=col != "model file", overflow="fold")
    for _, doc in results:
        lat = doc["latency"] or {}
        energy = doc["energy"]
        if energy["status"] == "unavailable":
            energy_text = "n/a"
        else:
            unc = energy.get("uncertainty_mj")
            energy_text = f"{energy['energy_mj']:.3g}" + (f"±{unc:.2g}" if unc is not None else "")
            energy_text += "" if energy["status"] == "measured" else " (est.)"
        stable = (lat.get("stability") or {}).get("stable")
        cv = _fmt(lat.get("cv"), 2) + ("*" if lat and stable is False else "")
        name = doc["model"]["file"] + ("" if doc["status"] == "complete" else f" [{doc['status']}]")
        if doc["device"]["platform"] == "browser":   # one file runs on several LiteRT.js accelerators
            name += f" ({doc['runtime']['delegate']})"
        median = _fmt(lat.get("median_ms"))
        if lat.get("median_ms") is not None:  # every latency cell says how it was obtained
            median += f" ({basis_mark(latency_basis(doc)[0])})"
        table.add_row(name, str(lat.get("runs", "-")), _fmt(lat.get("load_ms")), median,
                      _fmt(lat.get("p90_ms")), cv, energy_text, numerics_label(doc["numerics"]))
    console.print(table)
    for _, d in results:
        basis, method = latency_basis(d)
        if d["latency"] and basis != "measured":
            console.print(f"{d['model']['file']}: latency {basis} by {method}")
    if any(d["latency"] and d["latency"]["stability"]["stable"] is False for _, d in results):
        console.print("* unstable: CV or drift above the protocol's limits (run longer, or let the device cool)")
    methods = {(d["energy"]["status"], d["energy"]["method"], d["energy"]["source"]) for _, d in results
               if d["energy"]["status"] != "unavailable"}
    for status, method, source in sorted(methods, key=str):
        console.print(f"energy {status} by {method}" + (f" ({source})" if source else ""))
    reasons = {d["energy"]["reason"] for _, d in results if d["energy"]["status"] == "unavailable"}
    for reason in sorted(r for r in reasons if r):
        console.print(f"energy n/a: {reason}")
    for _, doc in results:
        if doc["error"]:
            console.print(f"[red]{doc['model']['file']}: {doc['status']}: {doc['error']}[/red]")


def _show_url(url: str) -> None:
    """The page URL for a phone, with a QR code in the terminal when `segno` is installed."""
    try:
        import segno

        segno.make(url, error="l").terminal(compact=True)
    except ModuleNotFoundError:
        pass
    hint = " (loopback: this machine, or a phone after `adb reverse`)" if "//127.0.0.1:" in url else ""
    console.print(f"open on the phone{hint}: {url}\nwaiting for the page's results (Ctrl-C stops)")


@app.command()
def bench(
    bundle: Path = typer.Argument(..., help="Bundle folder made by `vitsdk export` (holds manifest.json)."),
    device: str = typer.Option("host", "--device", "-d", help=" | ".join(DEVICES) + "."),
    output: Path = typer.Option(Path("results"), "--output", "-o", help="Folder for the results JSON files."),
    serial: Optional[list[str]] = typer.Option(None, "--serial", "-s", help="android: adb serial of the phone; "
                                               "repeat it to run several phones in parallel. ios: the device's "
                                               "name or identifier."),
    all_devices: bool = typer.Option(False, "--all-devices", help="android: every attached phone, in parallel."),
    install: Optional[Path] = typer.Option(None, "--install", help="Install the app first: an APK (android) or a "
                                           "built VitBench.app (ios)."),
    board: Optional[str] = typer.Option(None, "--board", help="fpga: the board profile (default zcu102)."),
    serve: Optional[str] = typer.Option(None, "--serve", help="browser: serve the page on HOST:PORT for a phone "
                                        "(0.0.0.0:8765 for this network) instead of running headless Chromium."),
    headless: bool = typer.Option(False, "--headless", help="browser: run the page in Debian's Chromium here through "
                                  "Playwright (the default without --serve)."),
    accelerator: Optional[list[str]] = typer.Option(None, "--accelerator", help="browser: LiteRT.js accelerators "
                                                    "to try (repeatable): wasm, webgpu, webnn; default all."),
    battery_wh: Optional[float] = typer.Option(None, "--battery-wh", help="browser, ios: the phone battery's "
                                               "capacity (Wh) for a coarse battery-level energy figure."),
    runtime: Optional[list[str]] = typer.Option(None, "--runtime", help="host, android, ios: only these runtimes "
                                                "(repeatable)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="host, android, ios, browser: CPU threads; "
                                          "default: the runtime's."),
    quick: bool = typer.Option(False, "--quick", help="A short protocol (smoke runs; numbers are rough)."),
    warmup_runs: Optional[int] = typer.Option(None, help="Warm-up runs (at least)."),
    warmup_seconds: Optional[float] = typer.Option(None, help="Warm-up seconds (at least)."),
    min_runs: Optional[int] = typer.Option(None, help="Timed runs (at least)."),
    min_seconds: Optional[float] = typer.Option(None, help="Timed seconds (at least)."),
    max_seconds: Optional[float] = typer.Option(None, help="Stop timing after this many seconds."),
    cooldown: Optional[float] = typer.Option(None, help="Seconds of idle before each model after the first."),
    idle_seconds: Optional[float] = typer.Option(None, help="Idle-baseline seconds for energy (0: no energy)."),
    sample_ms: Optional[float] = typer.Option(None, help="Power sampling period in ms."),
    timeout: Optional[float] = typer.Option(None, help="android, ios, browser: give up waiting for the device "
                                            "after this many seconds (default 3600)."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON instead of a table."),
) -> None:
    """Measure latency (load, first, min/median/p90/p99, CV, stability) and energy per inference of every
    model file in BUNDLE, and write one results JSON per model file (schemas/results.schema.json)."""
    chosen = get_device(device)
    if runtime:
        from vitsdk.converters.targets import TARGETS

        known = tuple(dict.fromkeys(t.runtime for t in TARGETS.values() if t.runtime))   # what bundle files run on
        for name in runtime:
            if name not in known:
                raise unknown("runtime", name, known)
    options = chosen.make_options(
        {"serial": serial, "all_devices": all_devices, "install": install, "board": board, "serve": serve,
         "headless": headless, "accelerator": accelerator, "battery_wh": battery_wh, "runtime": runtime,
         "threads": threads, "timeout": timeout}, show_url=_show_url)
    protocol = _protocol(quick, warmup_runs, warmup_seconds, min_runs, min_seconds, max_seconds, cooldown,
                         idle_seconds, sample_ms)
    check_writable(output, "--output", is_dir=True)  # before any timing, not after it
    progress = (lambda msg: err_console.print(msg)) if as_json else (lambda msg: console.print(msg))
    results = chosen.run(bundle, output, protocol, options, progress)
    if as_json:
        print_json([doc for _, doc in results])
    else:
        print_table(results)
        console.print(f"wrote {len(results)} results file(s) to {output}/; next: vitsdk report {output}/*.json "
                      f"-o report.html")
