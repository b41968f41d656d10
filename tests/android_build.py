"""One kotlinc compile of the whole Android app for the host tests (test_android_app.py, test_android_benchcore.py).

Compiled together: android_app/app (main + test), android_app/benchcore (main + test) and android_app/hoststubs,
against android-all (the Android framework, API compile_sdk), the LiteRT Interpreter API, fbjni, soloader,
Robolectric and JUnit, resolved from Maven Central by scripts/setup_android.sh at the versions of
schemas/runtime_versions.json; kotlinc comes from scripts/setup_kotlin.sh. The classes are cached under
~/.cache/vitsdk/kotlin-build/app-<hash of the sources and jars>, so a session compiles at most once.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vitsdk.atomic import atomic_path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "android_app"
CACHE = Path(os.environ.get("VITSDK_CACHE", Path.home() / ".cache" / "vitsdk"))
TOOLS = Path(os.environ.get("VITSDK_TOOLS", CACHE / "tools"))
KOTLIN = TOOLS / "kotlin" / "node_modules" / "kotlin-compiler"
STDLIB = KOTLIN / "lib" / "kotlin-stdlib.jar"
VERSIONS = json.loads((ROOT / "schemas" / "runtime_versions.json").read_text())


@dataclass(frozen=True)
class AndroidBuild:
    classes: Path
    run_jars: list[Path]        # Robolectric, JUnit, the runtimes' APIs (not the plain framework jar)
    dependency_dir: Path        # where Robolectric finds android-all-instrumented offline
    sources: list[Path]

    def java(self, main_class: str, *args: str, props: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Runs `main_class` on the compiled classes; schemas/ is on the classpath (/runtime_versions.json, as
        Gradle packages it into the app)."""
        cp = ":".join(map(str, [self.classes, STDLIB, *self.run_jars, ROOT / "schemas"]))
        flags = [f"-D{k}={v}" for k, v in (props or {}).items()]
        return subprocess.run(["nice", "-n", "10", "java", "--add-opens=java.base/java.io=ALL-UNNAMED", *flags,
                               "-cp", cp, main_class, *args], capture_output=True, text=True, timeout=900)


def _setup(script: str) -> str:
    """Runs scripts/SCRIPT (a no-op once done); returns its one line of output."""
    proc = subprocess.run(["bash", str(ROOT / "scripts" / script)], capture_output=True, text=True)
    assert proc.returncode == 0, f"scripts/{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout.strip()


def _jars() -> tuple[list[Path], list[Path], Path]:
    """(compile jars, run jars, the folder holding android-all-instrumented)."""
    base = Path(_setup("setup_android.sh").split()[-1])   # "... jars into DIR" / "... already in DIR"
    assert (base / ".complete").is_file(), f"scripts/setup_android.sh left no resolved jars in {base}"
    framework = f"android-all-{VERSIONS['android_all']}.jar"
    assert (base / "compile" / framework).is_file(), f"{framework} missing from {base / 'compile'}"
    compile_jars = sorted((base / "compile").glob("*.jar"))
    # Robolectric loads the instrumented framework itself; the plain one must not shadow it on the classpath.
    run_jars = [j for j in sorted((base / "test").glob("*.jar")) if j.name != framework]
    return compile_jars, run_jars, base / "test"


def build() -> AndroidBuild:
    if not shutil.which("java"):
        pytest.fail("no java on this machine: install a JDK 17 (make test expects one) to compile the Android app")
    _setup("setup_kotlin.sh")
    assert (KOTLIN / "lib" / "kotlin-compiler.jar").is_file(), "scripts/setup_kotlin.sh did not provide kotlinc"
    compile_jars, run_jars, dependency_dir = _jars()
    sources = sorted([*APP.glob("app/src/*/kotlin/**/*.kt"), *APP.glob("benchcore/src/*/kotlin/**/*.kt"),
                      *APP.glob("hoststubs/**/*.kt")])
    digest = hashlib.sha256()
    for src in sources:
        digest.update(str(src.relative_to(APP)).encode() + b"\0" + src.read_bytes())
    for jar in compile_jars + run_jars:
        digest.update(jar.name.encode())
    digest.update((KOTLIN / "package.json").read_bytes())
    out = CACHE / "kotlin-build" / f"app-{digest.hexdigest()[:16]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:   # pytest-xdist workers: one compiles, the others wait for it
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.is_dir():
            _compile(sources, compile_jars + run_jars, out)
    return AndroidBuild(out, run_jars, dependency_dir, sources)


def _compile(sources: list[Path], jars: list[Path], out: Path) -> None:
    lib = KOTLIN / "lib"
    with atomic_path(out, is_dir=True) as tmp:
        proc = subprocess.run(
            ["nice", "-n", "10", "java", "-cp", f"{lib / 'kotlin-compiler.jar'}:{STDLIB}",
             "org.jetbrains.kotlin.cli.jvm.K2JVMCompiler", "-kotlin-home", str(KOTLIN), "-jvm-target", "17",
             "-d", str(tmp), "-cp", ":".join(map(str, jars)), *map(str, sources)],
            capture_output=True, text=True)
        assert proc.returncode == 0, f"kotlinc failed on the Android app:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"

@pytest.fixture(scope="session")
def android_build() -> AndroidBuild:
    return build()
