"""schemas/runtime_versions.json is the one list of the Android app's runtime versions: these tests fail when
the app's ExecuTorch differs from the exporter's, or when a build file names a version of its own."""
from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = json.loads((ROOT / "schemas" / "runtime_versions.json").read_text())


def test_app_executorch_is_the_exporters():
    """ExecuTorch reads programs from the same or an older ExecuTorch only: the app must run the exporter's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    pins = {re.split(r"[=<>!~ \[]", d, maxsplit=1)[0]: d for d in requirements}
    assert pins["executorch"] == f"executorch=={VERSIONS['executorch']}"
    assert importlib.metadata.version("executorch") == VERSIONS["executorch"]


def test_gradle_and_maven_take_every_version_from_the_file():
    for module, use in (("app", r'\$\{v\("(\w+)"\)\}'), ("benchcore", r'\$\{versions\["(\w+)"\]\}')):
        gradle = (ROOT / "android_app" / module / "build.gradle.kts").read_text()
        coordinates = re.findall(r'^\s*(?:test)?[iI]mplementation\("([^:"]+:[^:"]+:.+)"\)\s*$', gradle, re.M)
        assert coordinates, f"no dependencies found in {module}/build.gradle.kts"
        for coordinate in coordinates:
            group, artifact, version = coordinate.split(":")
            key = re.fullmatch(use, version)
            assert key and key.group(1) in VERSIONS, f"{module}: {group}:{artifact} names version '{version}', not the file's"
        assert 'rootProject.file("../schemas/runtime_versions.json")' in gradle, module
    pom = (ROOT / "android_app" / "pom.xml").read_text()
    for version in re.findall(r"<version>([^<]+)</version>", pom.split("<dependencies>", 1)[1]):
        assert re.fullmatch(r"\$\{(\w+)\}", version) and version[2:-1] in VERSIONS, version


def test_pinned_litert_release_is_one_whose_op_table_we_have():
    releases = json.loads((ROOT / "schemas" / "litert_op_versions.json").read_text())["releases"]
    assert VERSIONS["litert"] in releases
