"""Every user mistake is one `error:` line, exit code 2, no traceback and nothing half-written.

MISTAKES is the table: what the user typed (through the real `vitsdk` command line, as a subprocess),
the message expected, and the output that must not exist afterwards. The environment makes each mistake
real rather than faked:
- read-only folder: a 0555 folder. Root ignores permissions through CAP_DAC_OVERRIDE, so the command runs
  with that one capability dropped from its bounding set (root keeps reading everything; a normal user
  needs nothing dropped).
- disk full: a 16 KiB tmpfs mounted in a private user + mount namespace (`unshare`), so nothing on the
  machine fills up.
- failing simulator: a `verilator` on PATH that fails like a broken Verilator install (the real one is used
  everywhere else).
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT_FIXTURES = ROOT / "tests" / "fixtures" / "report" / "results"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE = 24, 1

# A "verilator" that fails like a broken installation (its own --version, so no cached simulator is reused).
FAILING_VERILATOR = """#!/bin/sh
[ "$1" = "--version" ] && { echo "Verilator 0.0 (failing stand-in)"; exit 0; }
echo "%Error: Cannot find file containing module: vit_engine" >&2
exit 1
"""


@dataclass
class Mistake:
    name: str
    argv: list[str]          # after `vitsdk`; {tmp}, {ro} (a read-only folder) and {full} are filled in
    message: str             # regex the one error line must match
    absent: str | None = None  # an output that must not exist afterwards (nothing half-written)
    env: dict[str, str] = field(default_factory=dict)
    read_only: bool = False
    disk_full: bool = False


NANO = "vit_nano_patch4_28"
MISTAKES = [
    Mistake("export -o in a read-only folder", ["export", NANO, "--target", "tflite", "-o", "{ro}/bundle"],
            r"cannot write --output '.*/ro/bundle': permission denied \(choose a folder you can write",
            absent="{ro}/bundle", read_only=True),
    Mistake("bench -o in a read-only folder (before any timing)", ["bench", "{tmp}/bundle", "-o", "{ro}/results"],
            r"cannot write --output '.*/ro/results': permission denied", absent="{ro}/results", read_only=True),
    Mistake("prune -o in a read-only folder", ["prune", NANO, "-o", "{ro}/pruned"],
            r"cannot write --out '.*/ro/pruned': permission denied", absent="{ro}/pruned", read_only=True),
    Mistake("report -o in a read-only folder", ["report", str(REPORT_FIXTURES), "-o", "{ro}/report.html"],
            r"cannot write --output '.*/ro/report.html': permission denied", absent="{ro}/report.html",
            read_only=True),
    Mistake("train -o in a read-only folder (before the first epoch)",
            ["train", "-m", NANO, "--epochs", "1", "--train-size", "64", "-o", "{ro}/run"],
            r"cannot write --output '.*/ro/run': permission denied", absent="{ro}/run", read_only=True),
    Mistake("report -o an existing folder", ["report", str(REPORT_FIXTURES), "-o", "{tmp}/a_folder"],
            r"--output '.*/a_folder' is a folder; give a file path"),
    Mistake("export -o an existing file", ["export", NANO, "--target", "tflite", "-o", "{tmp}/a_file"],
            r"--output '.*/a_file' is a file; give a folder path"),
    Mistake("bench -o an existing file", ["bench", "{tmp}/bundle", "-o", "{tmp}/a_file"],
            r"--output '.*/a_file' is a file; give a folder path"),
    Mistake("prune -o an existing file", ["prune", NANO, "-o", "{tmp}/a_file"],
            r"--out '.*/a_file' is a file; give a folder path"),
    Mistake("prune -o a path below a file", ["prune", NANO, "-o", "{tmp}/a_file/pruned"],
            r"--out '.*/a_file/pruned': '.*/a_file' is a file, so no folder can be made there; choose another path"),
    Mistake("train -o an existing file", ["train", "-m", NANO, "--epochs", "1", "-o", "{tmp}/a_file"],
            r"--output '.*/a_file' is a file; give a folder path"),
    Mistake("disk full while writing the report", ["report", str(REPORT_FIXTURES), "-o", "{full}/report.html"],
            r"no space left on device: .*/full/.*report\.html.*\(the disk is full; free space or choose another disk\)",
            disk_full=True),
    Mistake("Verilator fails (fpga export)", ["export", NANO, "--target", "fpga", "-o", "{tmp}/fpga_bundle"],
            r"verilator on the engine sources failed with exit code 1: %Error: Cannot find file containing module: "
            r"vit_engine; full output in \S+\.log$", absent="{tmp}/fpga_bundle",
            env={"PATH": "{tmp}/bin" + os.pathsep + os.environ.get("PATH", "")}),
]


def _drop_dac_override() -> None:
    """Runs in the child before exec: without CAP_DAC_OVERRIDE in the bounding set, root's writes obey the
    0555 mode like anyone's (a non-root user has no such capability: nothing to drop)."""
    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "cannot drop CAP_DAC_OVERRIDE")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mistakes")
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    (tmp / "full").mkdir()
    (tmp / "a_folder").mkdir()
    (tmp / "a_file").write_text("not a folder\n")
    (tmp / "bin").mkdir()
    (tmp / "bin" / "verilator").write_text(FAILING_VERILATOR)
    (tmp / "bin" / "verilator").chmod(0o755)
    yield tmp
    ro.chmod(0o755)


def _fill(text: str, tmp: Path) -> str:
    return text.format(tmp=tmp, ro=tmp / "ro", full=tmp / "full")


def run_mistake(m: Mistake, tmp: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "vitsdk", *(_fill(a, tmp) for a in m.argv)]
    if m.disk_full:
        # The tmpfs vanishes with the namespace: list what the command left there before leaving it.
        mount = 'mount -t tmpfs -o size=16k tmpfs "$0" || exit 99; "$@"; rc=$?; echo "left: $(ls -A "$0")"; exit $rc'
        cmd = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, str(tmp / "full"), *cmd]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **{k: _fill(v, tmp) for k, v in m.env.items()}}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, timeout=300,
                          preexec_fn=_drop_dac_override if m.read_only else None)


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_mistake_is_one_error_line_and_exit_2(mistake: Mistake, workdir: Path):
    proc = run_mistake(mistake, workdir)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, f"exit {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}"
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    assert re.search(mistake.message, lines[0]), f"{lines[0]!r} does not match {mistake.message!r}"
    assert "Traceback" not in proc.stdout + proc.stderr
    if mistake.disk_full:
        assert proc.stdout.rstrip().endswith("left:"), f"left on the full disk: {proc.stdout[-300:]}"
    if mistake.absent:
        target = Path(_fill(mistake.absent, workdir))
        assert not target.exists(), f"{target} was left behind"
        leftovers = [p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]
        assert not leftovers, f"temporary files left behind: {leftovers}"


def test_the_read_only_folder_really_refuses_writes(workdir: Path):
    """The harness itself: without the capability drop root could write there, with it nobody can (else
    the read-only rows above would pass for the wrong reason or fail for one)."""
    probe = workdir / "ro" / "probe"
    code = "import sys; open(sys.argv[1], 'w')"
    proc = subprocess.run([sys.executable, "-c", code, str(probe)], capture_output=True, text=True,
                          preexec_fn=_drop_dac_override)
    assert proc.returncode != 0 and "PermissionError" in proc.stderr and not probe.exists()
    assert stat.S_IMODE((workdir / "ro").stat().st_mode) == 0o555
    assert shutil.which("unshare"), "util-linux's unshare is needed for the disk-full row"
