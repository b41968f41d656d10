"""Every performance figure the README quotes comes from a committed benchmark run (benchmarks/reference/README.md).

A figure is a Markdown link whose text is the figure and whose target is a reference JSON, e.g.
`[1.9-2.0x](benchmarks/reference/pruning_deit_s_speed.json)`. CHECKS holds, per (file, link text), a function
that reads the numbers out of that file; the numbers written in the link (a value, or a range a-b meaning
min-max) must equal them rounded to the digits shown. Measured-looking figures outside such links fail, unless
EXEMPT lists them with the reason they are not our measurements.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = ("README.md",)
LINK = re.compile(r"\[([^\]]+)\]\((benchmarks/reference/[^)#\s]+\.json)\)")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
# A figure that looks measured: 1.6x, 1.6-1.8x, 12 ms, 0.3 pt, 94-97%.
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?(?:x\b| ?ms\b| pt\b|%)")


def _rows(rows: list[dict], **match) -> list[dict]:
    found = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    assert found, f"no row with {match}"
    return found


FPGA_PRUNED = "pruned 16x16 50% + keep 0.7"


def _fpga(d: dict, model: str, board: str, variant: str) -> dict:
    (row,) = _rows(d["rows"], model=model, board=board, variant=variant)
    return row


def _phone(d: dict, variant: str, threads: int = 1, precision: str = "fp32", **match) -> list[dict]:
    return _rows(d["phones"]["rows"], variant=variant, threads=threads, precision=precision, **match)


PHONES_DEIT = "pruning_phones_deit_small.json"


def _int8_loss(d: dict, precision: str) -> float:
    (row,) = _rows(d["rows"], target="executorch", precision=precision)
    return 100 * (row["top1_pytorch"] - row["top1"])


# (reference file, link text) -> the numbers the text must show. Add one per figure you quote.
CHECKS: dict[tuple[str, str], Callable[[dict], list[float]]] = {
    # browser / native median latency, one thread, every model of the run
    ("browser.json", "2.4-3.4x"): lambda d: [r["ratio"] for r in _rows(d["rows"], threads=1)],
    # FPGA engine (benchmarks/fpga.py): DeiT-S pruned + keep 0.7 and dense (re-sized engines) on the ZCU102 / ZCU104,
    # composed from simulated slices; the quick mode's error against Verilator on vit_nano, vit_nano simulated (us)
    ("fpga.json", "10.6 ms"): lambda d: [_fpga(d, "deit_small_patch16_224", "zcu102", FPGA_PRUNED)["latency_ms"]],
    ("fpga.json", "39.2 ms"): lambda d: [_fpga(d, "deit_small_patch16_224", "zcu102", "dense")["latency_ms"]],
    ("fpga.json", "17.3 ms"): lambda d: [_fpga(d, "deit_small_patch16_224", "zcu104", FPGA_PRUNED)["latency_ms"]],
    ("fpga.json", "72.1 ms"): lambda d: [_fpga(d, "deit_small_patch16_224", "zcu104", "dense")["latency_ms"]],
    ("fpga.json", "0.0%"): lambda d: [100 * _fpga(d, "vit_nano_patch4_28", "zcu104",
                                                                        FPGA_PRUNED)["quick_vs_simulated"]],
    ("fpga.json", "91 us"): lambda d: [1000 * _fpga(d, "vit_nano_patch4_28", "zcu104",
                                                                         FPGA_PRUNED)["latency_ms"]],
    # phone runtimes, DeiT-S 50% pruned (benchmarks/pruning.py --phones): speedups over dense, one thread
    # unless said; block-sparse .tflite sizes over the dense file
    (PHONES_DEIT, "1.78-1.98x"): lambda d: [r["speedup"] for r in _phone(d, "fullx32", storage_requested=None)
                                            + _phone(d, "fullx32", storage_requested="auto")],
    (PHONES_DEIT, "2.47-2.70x"): lambda d: [r["speedup"] for r in _phone(d, "fullx32 keep0.7", storage_requested=None)
                                            + _phone(d, "fullx32 keep0.7", storage_requested="auto")],
    (PHONES_DEIT, "2.11-2.38x"): lambda d: [r["speedup"] for r in _phone(d, "fullx32 keep0.7", 2, storage_requested=None)
                                            + _phone(d, "fullx32 keep0.7", 2, storage_requested="auto")],
    (PHONES_DEIT, "0.97-1.06x"): lambda d: [r["speedup"] for v in ("16x16", "32x32") for t in (1, 2)
                                            for r in _phone(d, v, t) if r["storage_requested"] != "dense"],
    (PHONES_DEIT, "0.53-0.56x"): lambda d: [r["file_ratio"] for v in ("16x16", "16x16 keep0.7", "32x32", "32x32 keep0.7")
                                            for r in _phone(d, v, storage_requested="auto")],
    # block-sparse .tflite latency over the same pruned model stored dense, at one and two threads
    (PHONES_DEIT, "0.98-1.02x"): lambda d: [
        _phone(d, v, t, storage_requested="dense")[0]["median_ms"] / r["median_ms"]
        for v in ("16x16", "16x16 keep0.7", "32x32", "32x32 keep0.7") for t in (1, 2)
        for r in _phone(d, v, t, storage_requested="auto")],
    (PHONES_DEIT, "1.04x"): lambda d: [_phone(d, "dense", precision="int8", runtime="executorch")[0]["speedup_over_fp32"]],
    (PHONES_DEIT, "1.13x"): lambda d: [_phone(d, "dense", precision="int8-dynamic")[0]["speedup_over_fp32"]],
    (PHONES_DEIT, "1.00x"): lambda d: [_phone(d, "dense", precision="int8", runtime="litert")[0]["speedup_over_fp32"]],
    # ExecuTorch int8 top-1 loss on the briefly trained vit_micro (benchmarks/export.py), in points
    ("export_int8_vit_micro.json", "0.8 pt"): lambda d: [_int8_loss(d, "int8")],
    ("export_int8_vit_micro.json", "0.2 pt"): lambda d: [_int8_loss(d, "int8-dynamic")],
    ("pruning_phones_vit_micro.json", "1.35-1.41x"): lambda d: [
        r["speedup"] for r in _phone(d, "fullx32 keep0.7", storage_requested=None)
        + _phone(d, "fullx32 keep0.7", storage_requested="auto")],
    ("pruning_phones_vit_micro.json", "1.13-1.22x"): lambda d: [r["speedup"] for r in _phone(d, "dense keep0.7")],
    ("pruning_phones_vit_micro.json", "0.53-0.60x"): lambda d: [
        r["file_ratio"] for v in ("16x16", "16x16 keep0.7", "32x32", "32x32 keep0.7")
        for r in _phone(d, v, storage_requested="auto")],
    (PHONES_DEIT, "1.42x"): lambda d: [r["speedup"] for r in _phone(d, "dense keep0.7")],
    # converged Tri-Level training (benchmarks/training.py --seeds): per-variant means over the seeds
    ("training_converged.json", "85.6%"): lambda d: [100 * _summary(d, "dense")["top1_mean"]],
    ("training_converged.json", "0.72 pt"): lambda d: [_summary(d, "dense")["top1_spread_pt"]],
    ("training_converged.json", "0.08 pt"): lambda d: [-_summary(d, "dense")["last_epoch_gain_pt"]],
    ("training_converged.json", "30.2%"): lambda d: [100 * _summary(d, "tri-level")["time_saved"]],
    ("training_converged.json", "0.68 pt"): lambda d: [-_summary(d, "tri-level")["top1_delta_pt"]],
    ("training_converged.json", "1.05x"): lambda d: [_summary(d, "tri-level")["speedup_at_equal_top1"]],
    ("training_converged.json", "34.5%"): lambda d: [100 * _summary(d, "tri-level-soft")["time_saved"]],
    ("training_converged.json", "0.66 pt"): lambda d: [-_summary(d, "tri-level-soft")["top1_delta_pt"]],
    ("training_converged.json", "1.12x"): lambda d: [_summary(d, "tri-level-soft")["speedup_at_equal_top1"]],
    ("training_converged.json", "23.1%"): lambda d: [100 * _summary(d, "examples")["time_saved"]],
    ("training_converged.json", "0.64 pt"): lambda d: [-_summary(d, "examples")["top1_delta_pt"]],
    ("training_converged.json", "28.3%"): lambda d: [100 * _summary(d, "examples-soft")["time_saved"]],
    ("training_converged.json", "0.30 pt"): lambda d: [-_summary(d, "examples-soft")["top1_delta_pt"]],
    ("training_converged.json", "1.16x"): lambda d: [_summary(d, "examples-soft")["speedup_at_equal_top1"]],
    ("training_converged.json", "17.7%"): lambda d: [100 * _summary(d, "tokens")["time_saved"]],
    ("training_converged.json", "0.40 pt"): lambda d: [-_summary(d, "tokens")["top1_delta_pt"]],
    ("training_converged.json", "6.9%"): lambda d: [-100 * _summary(d, "attention")["time_saved"]],
    ("training_converged.json", "0.14 pt"): lambda d: [-_summary(d, "attention")["top1_delta_pt"]],
    # isolated training steps per seed's process: tokens + attention mask img/s over tokens-only img/s
    ("training_converged.json", "0.94-1.00x"): lambda d: [
        _rows(run, variant="tokens + attn mask")[0]["img_per_s"] / _rows(run, variant="tokens only")[0]["img_per_s"]
        for run in d["attention_modes"]],
}
# (figure, a phrase of its line) -> why it is not a benchmark figure of ours.
EXEMPT = {
    ("0.3 pt", "The targets"): "issue 15's target for Tri-Level training, not a measurement",
    ("1.25x", "The targets"): "issue 15's target for Tri-Level training, not a measurement",
    ("5%", "least-forgotten"): "the reference algorithm's setting (Tri-Level E-ViT), not a measurement",
    ("90%", "reference inputs"): "a pass threshold of the numerics check, not a measurement",
    ("9.15 ms", "HeatViT"): "HeatViT's published ZCU102 measurement, the target we compare with",
}


def _summary(doc: dict, variant: str) -> dict:
    return _rows(doc["summary"], variant=variant)[0]


def _prose(text: str) -> str:
    """The README without fenced code blocks (commands and code, not claims)."""
    return re.sub(r"```.*?```", "", text, flags=re.S)


def _links() -> list[tuple[str, str, str]]:
    return [(readme, m.group(1), m.group(2)) for readme in READMES for m in LINK.finditer((ROOT / readme).read_text())]


def _shown(text: str) -> list[tuple[float, int]]:
    """The numbers in a figure's text with their decimals: '1.9-2.0x' -> [(1.9, 1), (2.0, 1)]."""
    return [(float(n), len(n.partition(".")[2])) for n in NUMBER.findall(text)]


def check_figure(text: str, values: list[float]) -> None:
    shown = _shown(text)
    assert values, f"{text}: the checker found no values"
    wanted = [min(values), max(values)] if len(shown) == 2 else values
    assert len(shown) == len(wanted) or (len(shown) == 1 and len(set(round(v, shown[0][1]) for v in values)) == 1), \
        f"{text}: shows {len(shown)} number(s) for {len(values)} value(s) {values}"
    for (number, digits), value in zip(shown, wanted):
        assert round(value, digits) == number, f"{text}: the data says {value:.4g}, the README {number}"


@pytest.mark.parametrize("readme, text, target", _links() or [pytest.param("", "", "", marks=pytest.mark.skip(
    reason="the README links no reference figure"))])
def test_linked_figure_matches_its_reference_file(readme, text, target):
    path = ROOT / target
    assert path.is_file(), f"{readme}: [{text}] links {target}, which is not committed"
    doc = json.loads(path.read_text())
    provenance = doc.get("provenance") or {}
    assert provenance.get("command") and re.fullmatch(r"[0-9a-f]{40}", provenance.get("commit", "")), \
        f"{target}: no provenance.command / provenance.commit (make it with benchmarks/pin.py)"
    key = (path.name, text)
    assert key in CHECKS, f"{readme}: [{text}]({target}) has no checker in CHECKS"
    check_figure(text, CHECKS[key](doc))


def test_every_checker_has_its_link():
    linked = {(Path(target).name, text) for _, text, target in _links()}
    assert not set(CHECKS) - linked, f"checkers whose figure the README no longer links: {set(CHECKS) - linked}"


def test_no_unlinked_measured_figure():
    found = []
    for readme in READMES:
        for line in _prose((ROOT / readme).read_text()).splitlines():
            bare = LINK.sub("", line)
            for figure in FIGURE.findall(bare):
                if not any(figure == f and phrase in line for f, phrase in EXEMPT):
                    found.append(f"{readme}: {figure!r} in: {line.strip()[:120]}")
    assert not found, "figures with no committed run behind them (link them to benchmarks/reference/, see " \
                      "its README, or exempt them with the reason):\n" + "\n".join(found)


def test_check_figure_rounds_to_the_digits_shown():
    """The checker itself: right values pass, a figure one rounding step off fails."""
    check_figure("1.9-2.0x", [1.93, 2.04, 1.96])
    check_figure("2.13x", [2.1312, 2.1349])
    for text, values in (("1.9-2.0x", [1.93, 2.06]), ("2.13x", [2.1249]), ("1.9-2.0x", [])):
        with pytest.raises(AssertionError):
            check_figure(text, values)
