#!/usr/bin/env python3
"""Writes schemas/litert_op_versions.json: the highest version of each builtin op that each LiteRT release's
Android runtime registers (BuiltinOpResolver, tflite/core/kernels/register.cc: AddBuiltin(op, kernel, min, max)).

Usage: python android_app/tools/litert_op_table.py LITERT_CHECKOUT [OUT]
LITERT_CHECKOUT is a git clone of google-ai-edge/LiteRT with its release tags (vX.Y.Z); releases whose tree
has no tflite/core/kernels/register.cc (1.0.x kept TensorFlow's tree) are left out. A runtime runs a .tflite
only if every (op, version) the file's operator codes name is registered: vitsdk.bench.android.litert_op_gaps.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REGISTER = "tflite/core/kernels/register.cc"
ADD = re.compile(r"AddBuiltin\(\s*BuiltinOperator_(\w+)\s*,\s*[^;]*?\)\s*(?:,\s*(\d+)\s*,\s*(\d+)\s*)?\)\s*;", re.S)


def max_versions(source: str) -> dict[str, int]:
    """{op: max version} from register.cc (an AddBuiltin without versions registers version 1 only)."""
    source = re.sub(r"/\*.*?\*/", "", source)   # /* min_version = */ comments
    table = {m.group(1): int(m.group(3)) if m.group(3) else 1 for m in ADD.finditer(source)}
    if len(table) != source.count("AddBuiltin(BuiltinOperator_"):
        raise SystemExit("register.cc has an AddBuiltin form this parser does not know; fix ADD")
    return table


def main(repo: str, out: str) -> None:
    tags = subprocess.run(["git", "-C", repo, "tag"], capture_output=True, text=True, check=True).stdout.split()
    releases = {}
    for tag in sorted((t for t in tags if re.fullmatch(r"v\d+\.\d+\.\d+", t)), key=lambda t: [int(x) for x in t[1:].split(".")]):
        show = subprocess.run(["git", "-C", repo, "show", f"{tag}:{REGISTER}"], capture_output=True, text=True)
        if show.returncode == 0:
            releases[tag[1:]] = dict(sorted(max_versions(show.stdout).items()))
    doc = {"description": "Highest version of each builtin op registered by each LiteRT release's runtime "
                          f"(google-ai-edge/LiteRT {REGISTER}, BuiltinOpResolver). Written by "
                          "android_app/tools/litert_op_table.py; read by vitsdk.bench.android.litert_op_gaps.",
           "releases": releases}
    lines = [f'    "{r}": {json.dumps(ops, separators=(",", ":"))}' for r, ops in releases.items()]
    text = json.dumps(doc, indent=2).split('"releases"')[0] + '"releases": {\n' + ",\n".join(lines) + "\n  }\n}\n"
    json.loads(text)
    Path(out).write_text(text)
    print(f"{out}: {len(releases)} releases ({', '.join(releases)})")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parents[2] / "schemas" / "litert_op_versions.json"))
