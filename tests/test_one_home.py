"""Every shared definition has one home (issue 12): a search of the package, the benchmarks and the board runner
finds one schema loader, one manifest reader, one sha256 helper, one results-document builder, and each format
tag once. Each test names the files that broke the rule, so a second copy fails here with its place."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("sdk/vitsdk/**/*.py"), *ROOT.glob("converters/**/*.py"), *ROOT.glob("benchmarks/**/*.py"),
                  ROOT / "fpga" / "board" / "run_board.py"])
TAG = re.compile(r"^vitsdk\.[a-z_]+/\d+$")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def trees() -> dict[str, ast.Module]:
    return {rel(p): ast.parse(p.read_text(), filename=str(p)) for p in SOURCES}


def strings(tree: ast.Module) -> list[str]:
    """String constants that are not docstrings."""
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_each_format_tag_is_written_once():
    homes: dict[str, list[str]] = {}
    for name, tree in trees().items():
        for tag in {s for s in strings(tree) if TAG.match(s)}:
            homes.setdefault(tag, []).append(name)
    assert {"vitsdk.manifest/1", "vitsdk.results/1", "vitsdk.run_spec/1", "vitsdk.sparsity/1"} <= set(homes)
    assert {tag: files for tag, files in homes.items() if len(files) > 1} == {}


def test_one_schema_loader():
    users = sorted(name for name, tree in trees().items() if any(m.startswith("jsonschema") for m in imported(tree)))
    assert users == ["sdk/vitsdk/formats/schema.py"]


def test_one_manifest_reader():
    """Only the manifest format module names the manifest file; everyone else reads a bundle through it."""
    users = sorted(name for name, tree in trees().items() if "manifest.json" in strings(tree))
    assert users == ["sdk/vitsdk/formats/manifest.py"]


def test_one_sha256_helper():
    users = sorted(name for name, tree in trees().items()
                   if any(m == "hashlib" or m.startswith("hashlib.") for m in imported(tree)))
    assert users == ["sdk/vitsdk/hashing.py"]


def test_one_results_document_builder():
    """A results document is built in one place: only formats/results.py puts the results tag in a dict."""
    builders = []
    for name, tree in trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values):
                    if (isinstance(key, ast.Constant) and key.value == "schema" and isinstance(value, ast.Attribute)
                            and isinstance(value.value, ast.Name) and value.value.id == "RESULTS"):
                        builders.append(name)
    assert sorted(set(builders)) == ["sdk/vitsdk/formats/results.py"]


def test_no_module_over_400_lines_without_its_reason():
    """A module that grows past ~400 lines is doing several jobs: split it, or say in its docstring why not
    (a sentence naming its length, e.g. 'N lines: ...')."""
    long = []
    for path in [*ROOT.glob("sdk/vitsdk/**/*.py"), *ROOT.glob("converters/**/*.py")]:
        text = path.read_text()
        if text.count("\n") > 400 and " lines" not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{rel(path)} ({text.count(chr(10))} lines)")
    assert long == []
