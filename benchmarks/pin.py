"""Runs a benchmark and commits-ready copies its JSON into benchmarks/reference/ with its provenance.

    .venv/bin/python benchmarks/pin.py --name export_quick \
        --result benchmarks/results/export_quick.json -- .venv/bin/python benchmarks/export.py --quick

Records `git rev-parse HEAD` and the dirty tracked files before the run, runs the command, checks it
exited 0 and wrote --result after it started, and writes benchmarks/reference/NAME.json: the
benchmark's JSON unchanged plus a top-level "provenance" object. Convention: benchmarks/reference/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from vitsdk.atomic import write_json

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "benchmarks" / "reference"
WATCHED = ("sdk", "converters", "benchmarks", "fpga", "schemas")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def provenance(command: list[str], result: Path) -> dict:
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *WATCHED).splitlines()
    return {
        "command": shlex.join(command),
        "commit": git("rev-parse", "HEAD").strip(),
        "dirty": sorted(line[3:] for line in dirty),
        "result": str(result.relative_to(ROOT) if result.is_relative_to(ROOT) else result),
        "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, {platform.system()} {platform.release()}, "
                   f"Python {platform.python_version()}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="reference file name, without .json")
    parser.add_argument("--result", required=True, type=Path, help="the JSON file the command writes")
    parser.add_argument("--force", action="store_true", help="replace an existing reference file")
    parser.add_argument("command", nargs="+", help="the benchmark command (after --)")
    args = parser.parse_args(argv)
    out = REFERENCE / f"{args.name}.json"
    if out.exists() and not args.force:
        parser.error(f"{out} exists; pass --force to replace it")
    result = args.result.resolve()
    meta = provenance(args.command, result)
    start = time.time()
    code = subprocess.run(args.command, cwd=ROOT).returncode
    if code != 0:
        print(f"error: the benchmark exited with {code}; nothing pinned", file=sys.stderr)
        return code
    if not result.is_file() or result.stat().st_mtime < start:
        print(f"error: the benchmark did not write {args.result}; nothing pinned", file=sys.stderr)
        return 2
    doc = json.loads(result.read_text())
    meta["seconds"] = round(time.time() - start, 1)
    doc = {**doc, "provenance": meta} if isinstance(doc, dict) else {"data": doc, "provenance": meta}
    write_json(out, doc)
    print(f"pinned {out.relative_to(ROOT)} ({meta['commit'][:10]}, {len(meta['dirty'])} dirty files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
