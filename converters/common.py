"""Helpers every converter shares: the precision/calibration check, export-friendly model copies, sizes."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vitsdk.converters.targets import TARGETS
from vitsdk.errors import UserError


def check_precision(target: str, precision: str, calibration: torch.Tensor | None) -> None:
    """The target row's rules (`targets.TARGETS`): `precision` is one the target exports, and calibration data is
    given when the precision needs it (static int8 needs real inputs to measure activation ranges; refusing
    beats guessing them)."""
    row = TARGETS[target]
    row.check_precision(precision)
    if row.needs_calibration(precision) and (calibration is None or len(calibration) == 0):
        raise UserError(f"{target} {precision} needs calibration data to set activation ranges: pass "
                        f"--calib-data (e.g. 'fashion-mnist', an image folder or an .npz)")


def calibration_batches(calibration: torch.Tensor, batch: int) -> Iterator[torch.Tensor]:
    """Calibration inputs in the batch size the graph was exported with (static shapes)."""
    usable = len(calibration) - len(calibration) % batch
    if usable == 0:
        raise UserError(f"calibration data has {len(calibration)} inputs, fewer than the batch size {batch}")
    for start in range(0, usable, batch):
        yield calibration[start:start + batch].float().contiguous()


def standard_inputs(example_inputs: tuple) -> tuple:
    """Fresh row-major copies of the example inputs.

    A (N, 1, H, W) view of NHWC data counts as contiguous in PyTorch yet carries channels-last strides;
    torch.export records that dim order and the program then rejects ordinary inputs (XNNPACK fails
    with "Propagating input shapes failed"). Copies with default strides avoid it.
    """
    return tuple(torch.empty(t.shape, dtype=t.dtype).copy_(t) if isinstance(t, torch.Tensor) else t
                 for t in example_inputs)


def pruned_fraction(model: nn.Module) -> float:
    """The fraction of linear-layer weights that are exactly zero (block-pruned zeros kept in dense weights)."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / total if total else 0.0


def size_of(path: Path) -> int:
    """The bytes of a file, or of every file in a folder (an .mlpackage, an FPGA project)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


class LinearLayerNorm(nn.Module):
    """LayerNorm over the last dim written as linear/sub/mul/rsqrt, which XNNPACK delegates.

    XNNPACK has no LayerNorm kernel: left alone, every LayerNorm falls back to ExecuTorch's portable
    kernel and splits the delegated graph twice per block. The means are 1-output linear layers.
    """

    def __init__(self, norm: nn.LayerNorm) -> None:
        super().__init__()
        (dim,) = norm.normalized_shape
        self.eps = norm.eps
        self.weight = nn.Parameter(norm.weight.detach().clone())
        self.bias = nn.Parameter(norm.bias.detach().clone())
        self.register_buffer("average", torch.full((1, dim), 1.0 / dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - F.linear(x, self.average)
        variance = F.linear(centred * centred, self.average)
        return centred * torch.rsqrt(variance + self.eps) * self.weight + self.bias


def export_friendly(model: nn.Module, layer_norm: bool = True) -> nn.Module:
    """An eval-mode copy of `model` with LayerNorms rewritten for XNNPACK (the original is untouched)."""
    model = copy.deepcopy(model).eval()
    if layer_norm:
        for name, module in list(model.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.LayerNorm) and len(child.normalized_shape) == 1 \
                        and child.elementwise_affine and child.bias is not None:
                    setattr(module, child_name, LinearLayerNorm(child))
    return model
