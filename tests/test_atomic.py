"""`--force` replaces a folder atomically: the process is SIGKILLed between the steps (VITSDK_TEST_CRASH_AT,
see vitsdk.atomic) and the path must then hold the old folder or the new one, whole, never neither."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vitsdk.atomic import atomic_path
from vitsdk.formats.manifest import load_bundle
from vitsdk.hashing import file_sha256

# Writes folder `out` holding files a..e with the given text, through atomic_path (optionally without the
# Linux exchange, to test the fallback).
WRITER = textwrap.dedent("""
    import sys
    import vitsdk.atomic as atomic
    out, text, exchange = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    if not exchange:
        atomic._exchange = lambda a, b: False
    with atomic.atomic_path(out, is_dir=True) as tmp:
        for name in "abcde":
            (tmp / name).write_text(text)
""")


def write(out: Path, text: str, crash_at: str | None = None, exchange: bool = True) -> int:
    env = {**os.environ, "VITSDK_TEST_CRASH_AT": f"{crash_at}:{out.name}" if crash_at else ""}
    return subprocess.run([sys.executable, "-c", WRITER, str(out), text, "1" if exchange else "0"], env=env,
                          timeout=60).returncode


def contents(folder: Path) -> set[str]:
    return {p.read_text() for p in folder.iterdir()} if folder.is_dir() else set()


@pytest.mark.parametrize("step, survivor", [("staged", "old"), ("swapped", "new")])
def test_a_crash_during_replace_leaves_old_or_new(tmp_path, step, survivor):
    out = tmp_path / "bundle"
    assert write(out, "old") == 0
    assert write(out, "new", crash_at=step) == -signal.SIGKILL
    assert contents(out) == {survivor} and len(list(out.iterdir())) == 5


def test_the_new_folder_is_complete_before_the_old_one_moves(tmp_path):
    """A crash after the staged folder is complete but before the swap: the old folder is untouched and the
    complete new one is the staging folder beside it (nothing was deleted first, as rmtree-then-rename did)."""
    out = tmp_path / "bundle"
    write(out, "old")
    write(out, "new", crash_at="staged")
    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".bundle.")]
    assert contents(out) == {"old"} and [contents(p) for p in staged] == [{"new"}]


def test_fallback_without_exchange_restores_the_old_folder(tmp_path):
    """Without renameat2 (not Linux): killed between moving the old folder aside and renaming the new one in,
    the old one is at .bundle.old.*; the next write through atomic_path puts it back before anything else."""
    out = tmp_path / "bundle"
    write(out, "old", exchange=False)
    assert write(out, "new", crash_at="aside", exchange=False) == -signal.SIGKILL
    assert not out.exists() and [contents(p) for p in tmp_path.glob(".bundle.old.*")] == [{"old"}]
    with pytest.raises(RuntimeError):
        with atomic_path(out, is_dir=True):
            raise RuntimeError("a failing writer")
    assert contents(out) == {"old"}
    assert write(out, "new", exchange=False) == 0 and contents(out) == {"new"}
    assert not list(tmp_path.glob(".bundle.old.*"))


def _manifest_sha(bundle: Path) -> str:
    return hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()


def _export(out: Path, seed_text: str, crash_at: str | None = None) -> int:
    # --reference-samples differs between the runs, so old and new bundles differ in content.
    cmd = [sys.executable, "-m", "vitsdk", "export", "vit_nano_patch4_28", "--target", "tflite", "-o", str(out),
           "--reference-samples", seed_text, "--force"]
    env = {**os.environ, "VITSDK_TEST_CRASH_AT": f"{crash_at}:{out.name}" if crash_at else ""}
    return subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode


def _whole(bundle: Path) -> bool:
    loaded = load_bundle(bundle)
    return all(file_sha256(loaded.path_of(f)) == f.sha256 for f in loaded.files)


def test_export_force_killed_before_the_swap_keeps_the_old_bundle(tmp_path):
    """The real CLI: `vitsdk export --force` killed once its new bundle is complete, before the swap, leaves the
    old bundle whole (manifest loads, every file matches its sha256) and the new one whole beside it; before,
    the old bundle was deleted first. (The kill after the swap is the unit test above, without an export.)"""
    out = tmp_path / "bundle"
    assert _export(out, "8") == 0
    old = _manifest_sha(out)
    assert _export(out, "4", crash_at="staged") == -signal.SIGKILL
    assert _manifest_sha(out) == old and _whole(out) and len(load_bundle(out).reference()[0]) == 8
    (staged,) = [p for p in tmp_path.iterdir() if p.name.startswith(".bundle.")]
    assert _whole(staged) and len(load_bundle(staged).reference()[0]) == 4


@pytest.mark.parametrize("is_dir", [True, False])
def test_a_failed_write_removes_the_folders_it_made_above_the_path(tmp_path, is_dir):
    """A write into missing folders makes them; when it fails they go too (a failed export into new/deeper/out
    left new/ and new/deeper/ behind), while a folder that existed stays, and so does one something else was
    put into meanwhile."""
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError):
        with atomic_path(out, is_dir=is_dir):
            assert (tmp_path / "new" / "deeper").is_dir()
            raise RuntimeError("the export failed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with atomic_path(out, is_dir=is_dir):
            (tmp_path / "new" / "other.txt").write_text("a user's file")
            raise RuntimeError("the export failed")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["new", "other.txt"]
    with pytest.raises(OSError):  # the temporary name next to it is too long: failed before the write began
        with atomic_path(tmp_path / "new" / "deeper" / ("x" * 250), is_dir=is_dir):
            pass
    with pytest.raises(RuntimeError):  # a relative path through a missing folder
        with atomic_path(f"{tmp_path}/gone/../made/out", is_dir=is_dir):
            raise RuntimeError("the export failed")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["new", "other.txt"]
    with atomic_path(out, is_dir=is_dir) as tmp:  # a write that succeeds keeps what it made
        (tmp / "a").write_text("x") if is_dir else tmp.write_text("x")
    assert out.exists()
