"""`vitsdk report`: figures computed from hand-made results, schema rejection with JSON paths, escaping of
text from results files, every output format, and the CLI.

The fixtures in tests/fixtures/report are hand-made results (host RAPL measured, Android measured by power
monitor and by battery current x voltage, iOS energy unavailable, FPGA estimated) and the two bundle
manifests they came from; the numbers are chosen so the expected figures can be worked out by hand.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from vitsdk.formats.results import RESULTS
from vitsdk.errors import UserError
from vitsdk.report import build_report, make_report, pareto_front
from vitsdk.report.compute import COLUMNS
from vitsdk.report.variant import Variant, accuracy_of, prune_ratio

FIXTURES = Path(__file__).parent / "fixtures" / "report"
VECTORS = Path(__file__).parents[1] / "schemas" / "vectors" / "results_examples.json"


def _cases(valid: bool) -> list[dict]:
    return [c for c in json.loads(VECTORS.read_text())["cases"] if c["valid"] is valid]


@pytest.fixture(scope="module")
def report():
    return make_report([FIXTURES])


def _entry(report, name: str):
    (entry,) = [e for e in report.entries if e.path.name == name]
    return entry


def test_fixtures_are_valid_results():
    for path in sorted((FIXTURES / "results").glob("*.json")):
        assert RESULTS.errors(json.loads(path.read_text())) == [], path


def test_host_measured_figures(report):
    e = _entry(report, "host_dense.json")
    f = {k: v.value for k, v in e.figures.items()}
    assert f["latency_ms"] == 1.85
    assert f["fps"] == pytest.approx(1000 / 1.85)
    assert f["energy_mj"] == pytest.approx(21.275)
    assert e.figures["energy_mj"].uncertainty == 1.1
    assert f["inferences_per_j"] == pytest.approx(1000 / 21.275)          # 47.0
    assert f["fps_per_w"] == pytest.approx(1000 / 1.85 / 17.6)            # 30.7
    assert f["power_w"] == 17.6 and f["net_power_w"] == 11.5
    assert f["size_bytes"] == 2412000
    assert f["accuracy"] == pytest.approx(0.885)
    assert e.figures["energy_mj"].basis == "measured" and e.figures["energy_mj"].method == "rapl"
    assert e.figures["latency_ms"].basis == "measured"
    assert e.variant.kind == "dense" and e.variant.precision == "fp32"


def test_variants_come_from_manifests_not_file_names(report):
    assert _entry(report, "host_pruned.json").variant.kind == "pruned+token-dropped"
    v = _entry(report, "host_pruned.json").variant
    assert v.prune_ratio == 0.5 and v.keep_rate == 0.7
    # manifest_sha256 is null in this file: the manifest is found by the model file's sha256 instead.
    android = _entry(report, "android_pruned_int8.json")
    assert android.document["model"]["manifest_sha256"] is None
    assert android.variant.kind == "pruned+token-dropped+quantised"
    assert android.figures["accuracy"].value == pytest.approx(0.868)
    assert _entry(report, "ios_dense.json").variant.kind == "dense"


def test_variant_without_manifest_says_sparsity_unknown(tmp_path):
    shutil.copy(FIXTURES / "results" / "android_pruned_int8.json", tmp_path / "dense_fp32_model.json")
    (entry,) = make_report([tmp_path]).entries
    assert entry.variant.kind == "quantised (sparsity unknown)"     # the file name says nothing to the report
    assert entry.figures["accuracy"].value is None and entry.figures["accuracy"].basis == "unavailable"


def test_manifests_beside_the_results_folder_are_found(tmp_path):
    """The layout `vitsdk bench BUNDLE -o OUT/results` leaves: OUT/results/*.json beside OUT/<bundle>/."""
    shutil.copytree(FIXTURES / "results", tmp_path / "results")
    shutil.copytree(FIXTURES / "bundles" / "pruned", tmp_path / "android_bundle")
    report, _ = build_report([tmp_path / "results"], tmp_path / "results" / "report.html")
    kinds = {e.path.name: e.variant.kind for e in report.entries}
    assert kinds["host_pruned.json"] == "pruned+token-dropped"
    assert kinds["host_dense.json"] == "sparsity unknown"                 # its bundle is not there
    # A second run over the same folder ignores the report.json the first one left there.
    again, _ = build_report([tmp_path / "results"], tmp_path / "results" / "report.html")
    assert len(again.entries) == 6 and not again.problems


def test_ios_unavailable_energy_has_no_numbers(report):
    e = _entry(report, "ios_dense.json")
    for key in ("energy_mj", "inferences_per_j", "fps_per_w", "power_w"):
        assert e.figures[key].value is None, key
    assert e.figures["energy_mj"].basis == "unavailable"
    assert "iOS has no public instantaneous power API" in e.energy_note
    assert e.figures["latency_ms"].value == 0.9


def test_fpga_estimate_is_labelled_estimated(report):
    e = _entry(report, "fpga_pruned.json")
    assert e.figures["energy_mj"].basis == "estimated" and e.figures["energy_mj"].method == "analytical_model"
    assert e.figures["latency_ms"].basis == "estimated"                       # nothing was timed
    assert e.figures["fps_per_w"].basis == "estimated"
    assert e.figures["inferences_per_j"].value == pytest.approx(1000 / 2.1)


def test_pareto_front_and_groups(report):
    front = sorted(e.path.name for e in report.entries if e.pareto)
    # (mJ, top-1): fpga (2.1, .866), android int8 (2.72, .868), android dense (6.46, .885) dominate
    # host pruned (12.32, .872) and host dense (21.3, .885); iOS has no energy figure.
    assert front == ["android_dense.json", "android_pruned_int8.json", "fpga_pruned.json"]
    assert len(report.entries) == 6 and len(report.groups) == 6
    assert [e.platform for e in report.entries[:3]] == ["ios", "host", "android"]   # dense first, then variants


def test_pareto_front_unit():
    assert pareto_front([(0, 1.0, 0.5), (1, 2.0, 0.4), (2, 3.0, 0.9), (3, 3.0, 0.8), (4, 0.5, 0.1)]) == {0, 2, 4}
    assert pareto_front([]) == set()


def test_energy_not_above_idle_gives_no_efficiency(tmp_path):
    doc = json.loads((FIXTURES / "results" / "host_dense.json").read_text())
    doc["energy"]["energy_mj"] = -0.4                     # noise: a measured net energy below the baseline
    (tmp_path / "r.json").write_text(json.dumps(doc))
    (entry,) = make_report([tmp_path]).entries
    assert entry.figures["energy_mj"].value == -0.4
    assert entry.figures["inferences_per_j"].value is None
    assert "not above the idle baseline" in entry.figures["inferences_per_j"].method


def test_manifest_readers():
    assert prune_ratio({"ratio": 0.25, "block_shape": [16, 16]}) == 0.25
    assert prune_ratio({"ratio": None, "params_dense": 100, "params_stored": 40}) == pytest.approx(0.6)
    assert prune_ratio(None) == 0.0 and prune_ratio({"block_shape": [4, 4]}) is None
    assert accuracy_of(88.5) == (0.885, None)
    assert accuracy_of({"top1": 0.9, "dataset": "fashion-mnist"}) == (0.9, "fashion-mnist")
    assert accuracy_of("high") == (None, None)
    v = Variant("m", "fp16", False, 1.0, None, 0.0, None, None)
    assert v.kind == "dense" and v.detail == "fp16"


@pytest.mark.parametrize("case", _cases(False), ids=lambda c: c["name"])
def test_bad_file_is_skipped_with_its_json_path(tmp_path, case):
    # A folder of its own: the report also looks beside the results for bundle manifests, and pytest's
    # shared temp root holds other tests' bundles.
    tmp_path = tmp_path / "results"
    tmp_path.mkdir()
    shutil.copy(FIXTURES / "results" / "host_dense.json", tmp_path / "good.json")
    (tmp_path / "bad.json").write_text(json.dumps(case["document"]))
    rep = make_report([tmp_path])
    assert [e.path.name for e in rep.entries] == ["good.json"]
    (problem,) = rep.problems
    assert problem.path.name == "bad.json"
    assert problem.where == case["error_path"], str(problem)


def test_truncated_and_foreign_files_are_named(tmp_path):
    tmp_path = tmp_path / "results"  # isolated from other tests' bundles (see above)
    tmp_path.mkdir()
    good = (FIXTURES / "results" / "host_dense.json").read_text()
    (tmp_path / "good.json").write_text(good)
    (tmp_path / "cut.json").write_text(good[:300])
    newer = json.loads(good)
    newer["schema"] = "vitsdk.results/2"
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    (tmp_path / "list.json").write_text("[1, 2]")
    problems = {p.path.name: p for p in make_report([tmp_path]).problems}
    assert set(problems) == {"cut.json", "newer.json", "list.json"}
    assert "not valid JSON" in problems["cut.json"].message
    assert problems["newer.json"].where == "/schema" and "vitsdk.results/2" in problems["newer.json"].message
    assert problems["list.json"].where == "/schema"


def test_no_usable_file_is_an_error(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="no usable results files"):
        make_report([tmp_path])
    with pytest.raises(UserError, match="does not exist"):
        make_report([tmp_path / "missing"])


def test_every_valid_vector_renders_in_every_format(tmp_path):
    """The shared schema vectors (failed, partial, unavailable, estimated) each become one row in every format,
    with their own platform, status and energy figure: a number only where the file has one, labelled with its
    basis (measured / estimated), and nothing where energy is unavailable or the run failed."""
    folder = tmp_path / "results"
    folder.mkdir()
    cases = {case["name"]: case["document"] for case in _cases(True)}
    for name, doc in cases.items():
        (folder / f"{name}.json").write_text(json.dumps(doc))

    def expected_energy(doc: dict):
        return doc["energy"].get("energy_mj") if doc["energy"]["status"] != "unavailable" else None

    out = {}
    for fmt in ("html", "md", "csv", "json"):
        rep, written = build_report([folder], tmp_path / f"out.{fmt}", fmt, json_beside=False)
        assert written == [tmp_path / f"out.{fmt}"]
        out[fmt] = written[0].read_text()
    assert len(rep.entries) == len(cases)

    rows = {Path(r["file"]).stem: r for r in csv.DictReader(io.StringIO(out["csv"]))}
    assert set(rows) == set(cases)
    for name, row in rows.items():
        doc = cases[name]
        assert (row["platform"], row["status"]) == (doc["device"]["platform"], doc["status"]), name
        energy = expected_energy(doc)
        assert row["energy_mj"] == ("" if energy is None else str(energy)), name
        assert row["energy_mj_basis"] == doc["energy"]["status"], name
        assert row["latency_ms"] == ("" if doc["latency"] is None else str(doc["latency"]["median_ms"])), name

    entries = {Path(e["file"]).stem: e for e in json.loads(out["json"])["entries"]}
    assert set(entries) == set(cases)
    for name, entry in entries.items():
        assert entry["status"] == cases[name]["status"] and entry["figures"]["energy_mj"]["value"] == \
            expected_energy(cases[name]), name

    md_rows = {re.search(r"\[(\w+)\.json\]", line).group(1): line for line in out["md"].splitlines()
               if line.startswith("| ") and ".json](" in line}
    assert set(md_rows) == set(cases)
    for name, line in md_rows.items():
        energy, doc = expected_energy(cases[name]), cases[name]
        cell = line.split(" | ")[7]
        assert (cell == "—") if energy is None else cell.startswith(f"{energy:g} "), (name, cell)
        assert cell.endswith("(est.)") == (doc["energy"]["status"] == "estimated"), (name, cell)

    html_rows = re.findall(r'<tr id="r\d+" class="status-(\w+)">(.*?)</tr>', out["html"], re.S)
    assert sorted(status for status, _ in html_rows) == sorted(doc["status"] for doc in cases.values())
    energy_column = [c.key for c in COLUMNS].index("energy_mj")
    for name, doc in cases.items():
        (row,) = [body for _, body in html_rows if f"results/{name}.json" in body]
        cell = re.findall(r'<td class="num([^"]*)" data-v="([^"]*)"', row)[energy_column]
        energy = expected_energy(doc)
        assert cell == ((" b-unavailable", "") if energy is None else ("", repr(float(energy)))), (name, cell)


def test_formats_carry_the_same_figures(tmp_path):
    rep, written = build_report([FIXTURES], tmp_path / "report.html")
    assert [p.name for p in written] == ["report.html", "report.json"]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema"] == "vitsdk.report/1" and not data["skipped"]
    by_file = {Path(e["file"]).name: e for e in data["entries"]}
    host = by_file["host_dense.json"]["figures"]
    assert host["inferences_per_j"]["value"] == pytest.approx(1000 / 21.275)
    assert host["energy_mj"] == {"value": 21.275, "unit": "mJ", "basis": "measured", "method": "rapl",
                                 "uncertainty": 1.1}
    href = by_file["host_dense.json"]["href"]
    assert href.endswith("results/host_dense.json") and not href.startswith("/")     # relative to the report
    assert sorted(Path(by_file[i]["file"]).name for i in by_file if by_file[i]["pareto"]) == \
        ["android_dense.json", "android_pruned_int8.json", "fpga_pruned.json"]
    group = next(g for g in data["groups"] if g["platform"] == "fpga")
    assert group["best_energy_mj"]["basis"] == "estimated"

    build_report([FIXTURES], tmp_path / "report.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert len(rows) == 6
    row = next(r for r in rows if r["file"].endswith("host_dense.json"))
    assert float(row["inferences_per_j"]) == pytest.approx(1000 / 21.275)
    assert row["energy_mj_basis"] == "measured" and row["energy_uncertainty_mj"] == "1.1"

    build_report([FIXTURES], tmp_path / "report.md")
    md = (tmp_path / "report.md").read_text()
    assert "21.3 ± 1.1 mJ" in md and "2.1 mJ (est.)" in md and "476 inf/J (est.)" in md

    html = (tmp_path / "report.html").read_text()
    assert "21.3 ± 1.1 mJ" in html and "47 inf/J" in html and "30.7 FPS/W" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")     # self-contained
    assert "https://" not in html


HOSTILE = '<script>document.title="pwned"</script>'


def hostile_results(folder: Path) -> Path:
    """Results whose every free-text field tries to break out of HTML, Markdown or CSV."""
    folder.mkdir(parents=True, exist_ok=True)
    doc = json.loads((FIXTURES / "results" / "host_dense.json").read_text())
    doc = copy.deepcopy(doc)
    doc["model"]["name"] = HOSTILE
    doc["model"]["file"] = '"><img src=x onerror="document.title=\'pwned\'">.pte'
    doc["device"]["name"] = "dev|box</td><script>document.title='pwned'</script>"
    doc["energy"]["source"] = "=HYPERLINK(\"http://evil\")"
    doc["run_id"] = "</style><script>document.title='pwned'</script>"
    (folder / "hostile.json").write_text(json.dumps(doc))
    bad = copy.deepcopy(doc)
    bad["device"]["platform"] = "<script>x</script>"
    (folder / "bad <b>name.json").write_text(json.dumps(bad))
    return folder


def test_control_and_bidi_characters_are_shown_escaped(tmp_path):
    """NUL, ESC and the bidirectional overrides (U+202E makes 'fdp.exe' read as 'exe.pdf') from a results file
    reach the page as visible escapes, never as the characters themselves."""
    folder = tmp_path / "in"
    folder.mkdir()
    doc = json.loads((FIXTURES / "results" / "host_dense.json").read_text())
    doc["device"]["name"] = "dev\u0000box\u001b[31m \u202efdp.exe \u2066x\u2069"
    (folder / "r.json").write_text(json.dumps(doc))
    build_report([folder], tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert "dev\\u0000box\\u001b[31m \\u202efdp.exe \\u2066x\\u2069" in html
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]", html)


def test_text_from_results_is_escaped(tmp_path):
    folder = hostile_results(tmp_path / "in")
    rep, _ = build_report([folder], tmp_path / "r.html")
    assert len(rep.entries) == 1 and len(rep.problems) == 1
    html = (tmp_path / "r.html").read_text()
    assert "<script>document" not in html and "<img" not in html and "<b>name" not in html
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in html
    assert html.count("<script>") == 1                      # only the report's own (CSP-hashed) script
    build_report([folder], tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert "<script>" not in md and "dev\\|box" in md
    build_report([folder], tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert all(not v.startswith("=") for v in rows[0].values())


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from vitsdk.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_report_names_skipped_files(tmp_path, capsys):
    folder = tmp_path / "results"
    shutil.copytree(FIXTURES / "results", folder)
    doc = json.loads((folder / "host_dense.json").read_text())
    doc["energy"]["energy_mj"] = None
    (folder / "broken.json").write_text(json.dumps(doc))
    code, out, err = _cli(capsys, "report", folder, "--bundle", FIXTURES / "bundles" / "dense", "--bundle",
                          FIXTURES / "bundles" / "pruned", "-o", tmp_path / "out" / "report.html")
    assert code == 0, err
    assert "broken.json" in out and "/energy/energy_mj" in out
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "report.json").is_file()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(data["entries"]) == 6 and data["skipped"][0]["json_path"] == "/energy/energy_mj"
    assert {e["variant"]["kind"] for e in data["entries"]} == {"dense", "pruned+token-dropped",
                                                               "pruned+token-dropped+quantised"}


def test_cli_bad_input(tmp_path, capsys):
    code, _, err = _cli(capsys, "report", FIXTURES, "-o", tmp_path / "r.html", "--format", "htm")
    assert code == 2 and "did you mean 'html'" in err and not (tmp_path / "r.html").exists()
    code, _, err = _cli(capsys, "report", tmp_path / "nothing", "-o", tmp_path / "r.html")
    assert code == 2 and "does not exist" in err
    (tmp_path / "only_bad.json").write_text('{"schema": "vitsdk.results/1"}')
    code, _, err = _cli(capsys, "report", tmp_path / "only_bad.json", "-o", tmp_path / "r.html")
    assert code == 2 and err.startswith("error: no usable results files") and err.count("\n") == 1
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob(".r.*"))     # nothing half-written


def test_cli_subprocess_json(tmp_path, run_cli):
    result = run_cli("report", FIXTURES, "-o", tmp_path / "report.md", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["entries"]) == 6
    assert math.isclose(data["entries"][0]["figures"]["latency_ms"]["value"], 0.9)
    assert (tmp_path / "report.md").is_file() and (tmp_path / "report.json").is_file()


def test_numerics_label_says_what_an_integer_pass_means():
    """bench tables and the HTML report show an int8 file's agreement and relative error beside its `pass`."""
    from vitsdk.report.tables import numerics_label

    assert numerics_label({"status": "pass", "metric": "max_abs_diff / max_abs_ref", "rel_diff": 1e-6}) == "pass"
    assert numerics_label({"status": "fail", "metric": "top1_agree", "top1_agree": 0.75, "rel_diff": 0.41}) == \
        "fail (top-1 75%, rel 0.41)"


def test_every_platform_has_a_chart_style():
    """The platforms are the results schema's enum (one list, read by formats.results); a platform added there
    without a fill pattern and marker would break every chart that shows it."""
    from vitsdk.formats.results import PLATFORMS
    from vitsdk.report.svg import STYLE

    assert set(STYLE) == set(PLATFORMS) and len({style[1:] for style in STYLE.values()}) == len(STYLE)
