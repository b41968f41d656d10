"""The wheel works outside the checkout: build it, install it into a fresh venv (no editable install, no
checkout on sys.path), and run `vitsdk export` -> `bench --device host` -> `report` from a temporary folder.

The fresh venv gets the heavy dependencies (torch, the runtimes) from this environment's site-packages
through a .pth line, which puts that folder on sys.path without running its .pth files, so the editable
install's finder never loads; the test proves vitsdk is imported from the new venv.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Folders whose files the package reads at run time (setup.py maps schemas/ and fpga/ into the package).
DATA_FOLDERS = {"schemas": "vitsdk/_schemas", "fpga": "vitsdk/_fpga", "sdk/vitsdk": "vitsdk", "converters": "vitsdk/converters"}
SKIP_PARTS = ("__pycache__", ".pytest_cache")


def _source_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and not set(p.parts) & set(SKIP_PARTS)
                  and not p.name.endswith((".pyc", ".tmp")) and not p.name.startswith("."))


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the sources, so the build leaves no build/ or egg-info in the checkout."""
    src = tmp_path_factory.mktemp("src")
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("sdk", "converters", "schemas", "fpga"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns(*SKIP_PARTS, "*.egg-info", "build"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", dist, src], cwd=src)
    (found,) = dist.glob("vitsdk-*.whl")
    return found


def test_wheel_holds_every_data_file(wheel: Path):
    """Every file of the package's source and data folders is in the wheel (a new template or schema
    with an extension pyproject.toml's package-data does not list fails here, naming the file)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f"{p.relative_to(ROOT)}" for folder, target in DATA_FOLDERS.items() for p in _source_files(folder)
               if f"{target}/{p.relative_to(ROOT / folder).as_posix()}" not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert {"vitsdk/_schemas/manifest.schema.json", "vitsdk/_schemas/vectors/stats.json",
            "vitsdk/_fpga/rtl/vit_axi.v", "vitsdk/_fpga/board/run_board.py"} <= names


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    venv = home / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=home)
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index",
          "-q", wheel], cwd=home)
    site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=home).stdout.strip())
    deps = Path(sysconfig.get_paths()["purelib"])  # this environment's packages: dependencies only
    (site / "zz_vitsdk_test_deps.pth").write_text(f"{deps}\n")
    return venv


def _clean_env(venv: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def pipeline(venv: Path, tmp_path_factory) -> Path:
    """`vitsdk export` -> `bench --device host` -> `report` with the installed console script, in a temporary
    folder."""
    work = tmp_path_factory.mktemp("pipeline")
    env = _clean_env(venv)
    vitsdk = venv / "bin" / "vitsdk"
    _run([vitsdk, "export", "vit_nano_patch4_28", "--target", "tflite", "-o", "bundle"], cwd=work, env=env)
    _run([vitsdk, "bench", "bundle", "--device", "host", "--quick", "-o", "results"], cwd=work, env=env)
    _run([vitsdk, "report", "results", "-o", "report.html"], cwd=work, env=env)
    return work


def test_vitsdk_is_imported_from_the_new_venv(venv: Path, tmp_path: Path):
    probe = ("import json, sys, vitsdk, vitsdk.resources as r; "
             "print(json.dumps({'file': vitsdk.__file__, 'path': sys.path, "
             "'finders': [type(f).__name__ for f in sys.meta_path], "
             "'schema': str(r.schema_path('manifest.schema.json')), 'rtl': str(r.fpga_path('rtl', 'vit_axi.v'))}))")
    where = json.loads(_run([venv / "bin" / "python", "-c", probe], cwd=tmp_path, env=_clean_env(venv)).stdout)
    assert Path(where["file"]).is_relative_to(venv), where["file"]
    assert Path(where["schema"]).is_relative_to(venv) and Path(where["rtl"]).is_relative_to(venv)
    deps = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert [p for p in where["path"] if p and Path(p).resolve().is_relative_to(ROOT)] in ([], [str(deps)]), \
        "only the dependencies' folder may come from the checkout's environment"
    assert not [f for f in where["finders"] if "Editable" in f], where["finders"]


def test_installed_wheel_runs_the_pipeline_outside_the_checkout(pipeline: Path):
    results = list((pipeline / "results").glob("*.json"))
    assert results and all(json.loads(p.read_text())["status"] == "complete" for p in results)
    assert all(json.loads(p.read_text())["numerics"]["status"] == "pass" for p in results)
    assert json.loads((pipeline / "report.json").read_text())
    assert "vit_nano_patch4_28" in (pipeline / "report.html").read_text()


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_installed_wheel_refuses_a_model_path_outside_the_bundle(venv: Path, pipeline: Path, tmp_path: Path, how):
    """`../x` is refused by the shipped manifest schema; a symlink out of the bundle passes the schema's pattern
    and is refused by the code (the resolved path must be inside the bundle folder)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(pipeline / "bundle", bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    model = manifest["files"][0]["path"]
    shutil.copy(bundle / model, tmp_path / "outside.tflite")
    if how == "symlink":
        (bundle / "link.tflite").symlink_to(tmp_path / "outside.tflite")
    manifest["files"][0]["path"] = "../outside.tflite" if how == "dotdot" else "link.tflite"
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    proc = subprocess.run([venv / "bin" / "vitsdk", "bench", "bundle", "--device", "host", "--quick", "-o", "results"],
                          cwd=tmp_path, env=_clean_env(venv), capture_output=True, text=True, timeout=300)
    expected = "does not match the manifest schema: /files/0/path" if how == "dotdot" else "points outside the bundle"
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and expected in proc.stderr, proc.stderr
    assert not list((tmp_path / "results").glob("*.json"))
