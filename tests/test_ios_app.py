"""The Xcode side of the iOS app, checked as far as Linux can: no Xcode, iOS SDK or phone exists here,
so the app is not compiled. What is checked: the project file parses as an OpenStep plist, every object
it references exists, it builds the VitBench folder and links BenchCore (the local package `swift test`
runs) and ExecuTorch at the pinned version the app reports; the platform code stays behind
`#if canImport(...)` and BenchCore imports Foundation only (so it builds on Linux at all).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

IOS = Path(__file__).resolve().parents[1] / "ios_app"
PBXPROJ = IOS / "VitBench.xcodeproj" / "project.pbxproj"


def parse_openstep(text: str):
    """A small reader for the old-style plist Xcode writes (dicts, arrays, strings, comments)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"^//.*$", "", text, flags=re.M)
    token = re.compile(r'\s*(?:(?P<q>"(?:[^"\\]|\\.)*")|(?P<w>[A-Za-z0-9_$./:+\-<>@]+)|(?P<p>[{}()=;,]))')
    pos = 0

    def next_token():
        nonlocal pos
        m = token.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"unexpected text at {pos}: {text[pos:pos + 40]!r}")
        pos = m.end()
        if m.group("q"):
            return ("s", bytes(m.group("q")[1:-1], "utf-8").decode("unicode_escape"))
        if m.group("w"):
            return ("s", m.group("w"))
        return ("p", m.group("p"))

    def value(tok):
        kind, v = tok
        if kind == "s":
            return v
        if v == "{":
            out = {}
            while True:
                tok = next_token()
                if tok == ("p", "}"):
                    return out
                key = tok[1]
                assert next_token() == ("p", "="), f"'=' expected after {key}"
                out[key] = value(next_token())
                assert next_token() == ("p", ";"), f"';' expected after {key}"
        if v == "(":
            out = []
            while True:
                tok = next_token()
                if tok == ("p", ")"):
                    return out
                out.append(value(tok))
                sep = next_token()
                if sep == ("p", ")"):
                    return out
                assert sep == ("p", ","), "',' expected in array"
        raise ValueError(f"unexpected {v!r}")

    result = value(next_token())
    assert text[pos:].strip() == "", "trailing text after the root object"
    return result


@pytest.fixture(scope="module")
def project() -> dict:
    return parse_openstep(PBXPROJ.read_text())


def test_project_parses_and_every_reference_resolves(project):
    objects = project["objects"]
    assert project["objectVersion"] == "77" and project["rootObject"] in objects
    for oid in objects:
        assert re.fullmatch(r"[0-9A-F]{24}", oid), f"object id {oid} is not 24 hex digits"
    ids = set(objects)

    def refs(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
        elif isinstance(node, str) and re.fullmatch(r"[0-9A-F]{24}", node):
            yield node

    dangling = {r for r in refs(objects) if r not in ids}
    assert not dangling, f"references to missing objects: {dangling}"
    isas = {o["isa"] for o in objects.values()}
    assert {"PBXProject", "PBXNativeTarget", "PBXFileSystemSynchronizedRootGroup", "XCLocalSwiftPackageReference",
            "XCRemoteSwiftPackageReference", "XCSwiftPackageProductDependency"} <= isas


def test_target_builds_the_app_folder_with_benchcore_and_executorch(project):
    objects = project["objects"]
    (target,) = [o for o in objects.values() if o["isa"] == "PBXNativeTarget"]
    assert target["productType"] == "com.apple.product-type.application"
    synced = [objects[g]["path"] for g in target["fileSystemSynchronizedGroups"]]
    assert synced == ["VitBench"] and (IOS / "VitBench" / "VitBenchApp.swift").is_file()
    products = {objects[d]["productName"]: objects[objects[d]["package"]] for d in target["packageProductDependencies"]}
    assert products["BenchCore"]["relativePath"] == "BenchCore" and (IOS / "BenchCore" / "Package.swift").is_file()
    executorch = products["executorch"]
    assert executorch["repositoryURL"] == "https://github.com/pytorch/executorch"
    assert {"backend_xnnpack", "backend_coreml", "kernels_optimized"} <= set(products)
    branch = executorch["requirement"]["branch"]
    pinned = re.search(r'static let version = "([^"]+)"', (IOS / "VitBench" / "ExecuTorchBackend.swift").read_text())
    assert branch == f"swiftpm-{pinned.group(1)}", "the app must report the ExecuTorch version it links"
    for config in objects[target["buildConfigurationList"]]["buildConfigurations"]:
        settings = objects[config]["buildSettings"]
        assert settings["PRODUCT_BUNDLE_IDENTIFIER"] == "dev.vitsdk.VitBench"  # vitsdk.bench.ios.APP_BUNDLE_ID
        assert settings["INFOPLIST_KEY_UIFileSharingEnabled"] == "YES"      # Files app / Finder can add bundles
        assert "-all_load" in settings["OTHER_LDFLAGS"]                      # ExecuTorch kernels register at load
        assert settings["GENERATE_INFOPLIST_FILE"] == "YES"


def test_bundle_id_matches_the_driver():
    from vitsdk.bench.ios import APP_BUNDLE_ID

    assert f"PRODUCT_BUNDLE_IDENTIFIER = {APP_BUNDLE_ID};" in PBXPROJ.read_text()


def _code(path: Path) -> str:
    return re.sub(r"//.*", "", path.read_text())


@pytest.mark.parametrize("path", sorted((IOS / "BenchCore" / "Sources").rglob("*.swift")), ids=lambda p: p.name)
def test_benchcore_is_platform_free(path):
    imports = set(re.findall(r"^\s*import\s+(\w+)", _code(path), flags=re.M))
    guarded = set(re.findall(r"#if canImport\((\w+)\)\s*\n\s*import\s+(\w+)", _code(path)))
    assert imports - {"Foundation"} <= {mod for mod, _ in guarded}, f"{path.name} imports {imports}"


@pytest.mark.parametrize("path", sorted((IOS / "VitBench").glob("*.swift")), ids=lambda p: p.name)
def test_platform_code_is_behind_can_import(path):
    code = _code(path)
    for module in ("UIKit", "CoreML", "ExecuTorch"):
        if re.search(rf"^\s*import\s+{module}\b", code, flags=re.M):
            opened = code.index(f"#if canImport({module})") if f"#if canImport({module})" in code else -1
            assert 0 <= opened < code.index(f"import {module}"), f"{path.name}: import {module} outside #if canImport"
