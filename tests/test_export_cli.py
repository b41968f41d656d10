"""`vitsdk export` input errors and the target table. Each bad input gives one line, exit code 2, and
leaves nothing behind; all of these fail before any conversion runs, so they are fast."""
from __future__ import annotations

from pathlib import Path

import pytest

from vitsdk.converters import targets
from vitsdk.converters import ExportOptions, export
from vitsdk.errors import UserError

MODEL = "vit_nano_patch4_28"


def assert_clean_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr.strip()
    assert err.startswith("error: ") and "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


def test_unknown_target_suggests_nearest(run_cli, tmp_path):
    out = tmp_path / "b"
    assert_clean_error(run_cli("export", MODEL, "--target", "andriod", "-o", out), "did you mean 'android'")
    assert not out.exists()


def test_int8_without_calibration_data_is_refused(run_cli, tmp_path):
    out = tmp_path / "b"
    assert_clean_error(run_cli("export", MODEL, "-t", "android", "-p", "int8", "-o", out), "--calib-data")
    assert not out.exists()


def test_unknown_board_is_refused_with_the_known_ones(run_cli, tmp_path):
    """`--board` picks the board the fpga target's engine is sized for (export had no such option: every
    export was sized for the ZCU102); an unknown one is refused before anything is exported."""
    from vitsdk.fpga.boards import BOARDS
    out = tmp_path / "nested" / "b"
    assert_clean_error(run_cli("export", MODEL, "-t", "fpga", "--board", "zcu999", "-o", out),
                       "unknown board 'zcu999'", *BOARDS)
    assert not out.exists() and not out.parent.exists()


def test_the_fpga_member_gets_the_board_and_the_calibration_images(monkeypatch, tmp_path):
    """The fpga member is exported for ExportOptions.board with the --calib-data images (both were dropped: the
    engine was always sized for the ZCU102, and the images were loaded only for targets that require them, so
    the fpga member calibrated on its default images whatever the user gave). Nothing is left behind."""
    import vitsdk.fpga.export as fpga_export
    seen = {}

    def fake_to_fpga(model, example_inputs, path, precision, *, calibration=None, reference=None, board="zcu102",
                     **_):
        seen.update(calibration=calibration, board=board)
        raise RuntimeError("stop here")

    monkeypatch.setattr(fpga_export, "to_fpga", fake_to_fpga)
    out = tmp_path / "b"
    with pytest.raises(RuntimeError, match="stop here"):
        export(MODEL, output=out, options=ExportOptions(target="fpga", board="ZCU104", calib_data="fashion-mnist",
                                                        calib_samples=5, reference_samples=2))
    assert seen["board"] == "ZCU104" and tuple(seen["calibration"].shape) == (5, 1, 28, 28)
    assert not out.exists()


def test_corrupted_checkpoint_is_refused(run_cli, tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00garbage" * 64)
    out = tmp_path / "b"
    assert_clean_error(run_cli("export", bad, "-t", "tflite", "-o", out), "cannot read checkpoint")
    assert not out.exists()


def test_existing_output_needs_force(run_cli, tmp_path):
    out = tmp_path / "b"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    assert_clean_error(run_cli("export", MODEL, "-t", "tflite", "-o", out), "--force")
    assert (out / "manifest.json").read_text() == "{}"


def test_help_lists_every_target():
    from typer.testing import CliRunner

    from vitsdk.cli.app import app

    result = CliRunner().invoke(app, ["export", "--help"])
    assert result.exit_code == 0
    for name in targets.list_targets():
        assert name in result.output


@pytest.mark.parametrize("target,precision,message", [
    ("executorch", "int8-full", "precision 'int8-full' is not supported by target 'executorch'"),
    ("android", "int4", "unknown precision 'int4'"),
    ("coreml", "int8-dynamic", "not supported by target 'coreml'"),
    ("fpga", "fp32", "precision 'fp32' is not supported by target 'fpga'"),
    ("ios", "int8-dynamic", "includes coreml, which supports none of int8-dynamic"),
])
def test_bad_target_precision_pairs(tmp_path, target, precision, message):
    out = tmp_path / "b"
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        export(MODEL, output=out, target=target, precision=precision)
    assert not out.exists()


def test_force_never_replaces_a_folder_that_is_not_a_bundle(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.png").write_bytes(b"png")
    with pytest.raises(UserError, match="not a vitsdk bundle"):
        export(MODEL, output=out, target="tflite", force=True)
    assert (out / "cat.png").exists()


def test_bad_options_are_named():
    with pytest.raises(UserError, match="calib-samples"):
        ExportOptions(calib_samples=0)
    with pytest.raises(UserError, match="did you mean 'sparse'"):
        ExportOptions(coreml_compression="sparce")


def test_platform_targets_expand_from_the_table():
    def names(target, precisions=None):
        return [(t.name, p) for t, p in targets.plan(target, precisions)]

    assert names("android") == [("executorch", "fp32"), ("tflite", "fp32")]
    assert names("ios") == [("coreml", "fp16"), ("executorch", "fp32")]
    assert names("all") == [("executorch", "fp32"), ("tflite", "fp32"), ("coreml", "fp16"), ("fpga", "int8")]
    assert names("android", ["fp32", "int8-dynamic"]) == [("executorch", "fp32"), ("executorch", "int8-dynamic"),
                                                          ("tflite", "fp32"), ("tflite", "int8-dynamic")]


def test_readme_target_table_is_generated_from_the_registry():
    readme = (Path(__file__).resolve().parents[1] / "converters" / "README.md").read_text()
    assert targets.markdown_table() in readme


@pytest.mark.parametrize("name", [t.name for t in targets.TARGETS.values() if not t.is_platform])
def test_every_file_target_registers_its_converter_and_check_from_its_own_module(name):
    """Each backend module registers itself (convert + verify) when the module its row names is imported;
    nothing else in the package lists the targets again."""
    import importlib

    from vitsdk.converters.registry import CONVERTERS, converter_for

    target = targets.TARGETS[name]
    backend = converter_for(target)
    assert CONVERTERS[name] is backend and callable(backend.convert) and callable(backend.verify)
    assert backend.convert.__module__ == target.converter == importlib.import_module(target.converter).__name__


@pytest.mark.parametrize("name", [t.name for t in targets.TARGETS.values() if not t.is_platform])
def test_precision_and_calibration_rules_come_from_the_target_row(name):
    """`check_precision` (what every converter calls) accepts exactly the row's precisions and asks for
    calibration data exactly for the row's `calibrated` ones."""
    import torch

    from vitsdk.converters.common import check_precision

    target = targets.TARGETS[name]
    some = torch.zeros(1, 1, 28, 28)
    for precision in targets.all_precisions():
        if precision not in target.precisions:
            with pytest.raises(UserError, match=f"not supported by target '{name}'"):
                check_precision(name, precision, some)
            continue
        check_precision(name, precision, some)
        if precision in target.calibrated:
            with pytest.raises(UserError, match="needs calibration data"):
                check_precision(name, precision, None)
        else:
            check_precision(name, precision, None)
