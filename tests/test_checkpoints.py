"""Checkpoints: safetensors round-trip, timm/DeiT-style .pth files, adaptation, and bad files."""
from __future__ import annotations

import pytest
import torch

from vitsdk.errors import UserError
from vitsdk.models import create_model, load_model, load_pretrained, save_checkpoint
from vitsdk.resolve import resolve, resolve_model


def test_safetensors_round_trip_keeps_config_and_outputs(tmp_path):
    model = create_model("vit_nano_patch4_28", keep_rate=0.7, fuse_token=True).eval()
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    loaded = load_model(path).eval()
    assert loaded.config == model.config
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*.tmp"))


def test_run_folder_resolves_to_its_model(tmp_path):
    model = create_model("vit_nano_patch4_28")
    save_checkpoint(model, tmp_path / "model.safetensors")
    assert resolve_model(str(tmp_path)).config == model.config


def test_timm_style_pth_with_container_and_module_prefix(tmp_path):
    source = create_model("vit_nano_patch4_28")
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    torch.save({"model": state, "epoch": 3}, tmp_path / "ckpt.pth")
    target = create_model("vit_nano_patch4_28")
    report = load_pretrained(target, tmp_path / "ckpt.pth")
    assert report.ok and not report.unexpected
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def test_pos_embed_is_resampled_and_rgb_filters_summed(tmp_path):
    source = create_model("vit_nano_patch4_28", img_size=56, in_chans=3, mean=(0.5,) * 3, std=(0.5,) * 3)
    torch.save(source.state_dict(), tmp_path / "big.pth")
    target = create_model("vit_nano_patch4_28")
    report = load_pretrained(target, tmp_path / "big.pth")
    assert report.ok
    assert any("resampled 14x14 -> 7x7" in line for line in report.adapted)
    assert any("summed 3 input channels" in line for line in report.adapted)
    torch.testing.assert_close(target.pos_embed[:, 0], source.pos_embed[:, 0])
    torch.testing.assert_close(target.patch_embed.proj.weight, source.patch_embed.proj.weight.sum(1, keepdim=True))


def test_wrong_architecture_lists_the_keys(tmp_path):
    torch.save(create_model("vit_micro_patch4_28").state_dict(), tmp_path / "micro.pth")
    with pytest.raises(UserError) as err:
        load_pretrained(create_model("vit_nano_patch4_28"), tmp_path / "micro.pth")
    message = str(err.value)
    assert "mismatched 55" in message and "cls_token: file (1, 1, 64) vs model (1, 1, 32)" in message
    assert "unexpected 96" in message and "blocks.4.attn.qkv.weight" in message


def test_strict_false_reports_instead_of_raising(tmp_path):
    state = create_model("vit_nano_patch4_28").state_dict()
    del state["head.weight"]
    torch.save(state, tmp_path / "partial.pth")
    report = load_pretrained(create_model("vit_nano_patch4_28"), tmp_path / "partial.pth", strict=False)
    assert report.missing == ["head.weight"] and not report.ok


@pytest.mark.parametrize("name,content", [("garbage.pth", b"not a checkpoint"), ("cut.safetensors", b"\x10\x00")])
def test_unreadable_files_are_clear_errors(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_model(tmp_path / name, model_name="vit_nano_patch4_28")


def test_pickled_code_is_not_executed(tmp_path):
    """torch.load(weights_only=True) refuses arbitrary objects instead of running their code."""
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))
    torch.save({"model": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_model(tmp_path / "evil.pth", model_name="vit_nano_patch4_28")


def test_foreign_file_needs_a_model_name(tmp_path):
    torch.save(create_model("vit_nano_patch4_28").state_dict(), tmp_path / "plain.pth")
    with pytest.raises(UserError, match="--model"):
        load_model(tmp_path / "plain.pth")
    assert load_model(tmp_path / "plain.pth", model_name="vit_nano_patch4_28").config.depth == 4


def test_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        resolve_model(str(tmp_path / "nope.pth"))
    with pytest.raises(UserError, match="neither model.safetensors"):
        resolve_model(str(tmp_path))


def test_resolve_names_each_kind_of_source_with_its_checksum(tmp_path):
    """One `resolve` for every verb: the source kind and sha256 the export manifest records."""
    from vitsdk.hashing import file_sha256
    from vitsdk.sparsity import BlockPruneConfig, is_compacted, prune_, save_pruned

    model = create_model("vit_nano_patch4_28")
    save_checkpoint(model, tmp_path / "run" / "model.safetensors")
    save_checkpoint(model, tmp_path / "m.safetensors")
    prune_(model, BlockPruneConfig(block_shape=(16, 16), ratio=0.5))
    save_pruned(model, tmp_path / "pruned")
    run_sha = file_sha256(tmp_path / "run" / "model.safetensors")

    loaded, source = resolve(tmp_path / "run", keep_rate=0.7)
    assert (source.kind, source.sha256, loaded.config.keep_rate, loaded.training) == ("run", run_sha, 0.7, False)
    _, source = resolve(str(tmp_path / "m.safetensors"))
    # the file's own digest: safetensors writes its metadata map in no fixed order, so two saves of one model
    # need not be byte-identical
    assert source.to_dict() == {"kind": "checkpoint", "spec": str(tmp_path / "m.safetensors"),
                                "sha256": file_sha256(tmp_path / "m.safetensors")}
    _, source = resolve("vit_nano_patch4_28")
    assert source.to_dict() == {"kind": "registry", "spec": "vit_nano_patch4_28", "sha256": None}
    masked, source = resolve(tmp_path / "pruned", compaction="mask")
    assert source.kind == "pruned" and source.sha256 == file_sha256(tmp_path / "pruned" / "model.safetensors")
    assert source.sparsity["prune"]["ratio"] == 0.5 and not is_compacted(masked)
    compacted, _ = resolve(tmp_path / "pruned", compaction="remove")
    assert is_compacted(compacted)
    assert resolve(model)[0] is model and resolve(model)[1].kind == "module"
    with pytest.raises(UserError, match="model object"):
        resolve(model, keep_rate=0.5)
    with pytest.raises(UserError, match="did you mean 'vit_nano_patch4_28'"):
        resolve("vit_nano_patch4_29")
