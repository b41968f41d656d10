"""Results files (`results/*.json`, `vitsdk.results/1`): one benchmark run of one model file on one device.

Every Python writer builds its document with `results_document` (the host runner, the Android driver's
placeholders, the FPGA simulation and estimate), names its file with `results_name`, and fills the `model`
block with `model_block`, so the keys, their order and the file names are written once. The apps, the
browser page and the board runner write the same document in their own language, checked against
`schemas/results.schema.json`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from vitsdk.errors import UserError
from vitsdk.formats.schema import Format, load_schema

RESULTS = Format("vitsdk.results/1", "results.schema.json")
# The device platforms a results file may name: the schema's enum is the contract, read here once.
PLATFORMS: tuple[str, ...] = tuple(
    load_schema(RESULTS.schema_file)["properties"]["device"]["properties"]["platform"]["enum"])


def load_results(path: str | os.PathLike) -> dict:
    """Reads and validates a results file; truncated or invalid files are a clear error."""
    return RESULTS.read(path)


def parse_results(data: bytes | str, where: str) -> dict:
    """A results document from the bytes a device sent back (pulled from a phone, copied from an app),
    validated; a truncated or invalid one is one UserError naming `where` and the JSON path."""
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{where}: not valid JSON (truncated?): {exc}") from None
    RESULTS.validate(document, where)
    return document


def utc_now() -> str:
    """A results document's `created_utc`: UTC to the second, 'YYYY-MM-DDTHH:MM:SSZ'."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_run_id(prefix: str) -> str:
    """A results document's `run_id` for a run starting now: 'PREFIX-YYYYMMDDTHHMMSSZ' (UTC)."""
    return f"{prefix}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"


def tool_block() -> dict:
    """The `tool` block: which vitsdk wrote the document."""
    from vitsdk import __version__

    return {"name": "vitsdk", "version": __version__}


def model_entry(*, name: str | None, file: str, format: str, sha256: str, size_bytes: int | None,
                precision: str | None, macs: int | None, input_shape: list[int] | None,
                manifest_sha256: str | None) -> dict:
    """The `model` block: which model file ran (`file` relative to its bundle, `sha256` of the file,
    `manifest_sha256` of the bundle's manifest.json that listed it)."""
    return {"name": name, "file": file, "format": format, "sha256": sha256, "size_bytes": size_bytes,
            "precision": precision, "macs": macs, "input_shape": input_shape, "manifest_sha256": manifest_sha256}


def model_block(bundle: Any, model: Any) -> dict:
    """The `model` block of one file of a bundle (a `vitsdk.formats.manifest.Bundle` and one of its `files`),
    from the manifest: every device's runner writes the same one."""
    return model_entry(name=bundle.model_name, file=model.path, format=model.format, sha256=model.sha256,
                       size_bytes=model.size_bytes, precision=model.precision, macs=model.macs,
                       input_shape=bundle.input_shape, manifest_sha256=bundle.manifest_sha256)


def unavailable_energy(reason: str) -> dict:
    """The `energy` block when nothing was measured or estimated, with the reason."""
    return {"status": "unavailable", "method": "none", "reason": reason}


def skipped_numerics(reason: str) -> dict:
    """The `numerics` block when the outputs were not checked, with the reason."""
    return {"status": "skipped", "reason": reason}


def results_document(*, run_id: str, device: dict, runtime: dict, model: dict, protocol: dict,
                     latency: dict | None, energy: dict, thermal: dict, numerics: dict,
                     status: str = "complete", error: str | None = None) -> dict:
    """A `vitsdk.results/1` document, stamped with the schema tag, the time (`created_utc`) and this vitsdk.

    Args:
        run_id: names the run (every file of one `vitsdk bench` call shares it).
        device: the `device` block (`platform` is one of `PLATFORMS`).
        runtime: the `runtime` block (name, version, delegate, threads[, extra]).
        model: the `model` block (`model_block` / `model_entry`).
        protocol: the measurement protocol as run (`Protocol.to_dict()`).
        latency: the `latency` block; None when nothing was timed.
        energy: the `energy` block (`unavailable_energy(reason)` when there is none).
        thermal: the `thermal` block ({"before": ..., "after": ...}).
        numerics: the `numerics` block (`skipped_numerics(reason)` when not checked).
        status: complete, partial or failed; `error` says why when not complete.
    """
    return {"schema": RESULTS.tag, "run_id": run_id, "created_utc": utc_now(), "status": status, "error": error,
            "tool": tool_block(), "device": device, "runtime": runtime, "model": model, "protocol": protocol,
            "latency": latency, "energy": energy, "thermal": thermal, "numerics": numerics}


def results_name(model_file: str, runtime: str, platform: str, accelerator: str | None = None) -> str:
    """The results file name of one model file run with one runtime on one platform.

    'sub/model_int8.pte', executorch, android -> 'sub_model_int8-executorch-android.json'; the browser
    adds the LiteRT.js accelerator ('model-litertjs-wasm-browser.json'). An FPGA bundle's one member keeps
    its suffix and drops its folder ('fpga/project.json' -> 'project_json-fpga-fpga.json'), the name
    results folders and reports already hold.
    """
    if platform == "fpga":
        stem = Path(model_file).name.replace(".", "_")
    else:
        stem = model_file.replace("/", "_").rsplit(".", 1)[0]
    return "-".join(part for part in (stem, runtime, accelerator, platform) if part) + ".json"
