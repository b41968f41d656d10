"""The numbers an export is checked against: dataset samples, PyTorch's reference outputs, parity and top-1.

Reference inputs are real images when a dataset is available (Fashion-MNIST for 1-channel models by
default), else seeded Gaussian noise; `parity` is the figure every file's verification is judged by.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from vitsdk.converters.options import ExportOptions


def load_images(spec: str, split: str, count: int, config, seed: int) -> tuple[torch.Tensor, np.ndarray, str]:
    """(inputs preprocessed for `config`, labels, description) of `count` images of a dataset split."""
    from vitsdk.data import load_dataset

    data = load_dataset(spec, split).subset(count, seed=seed)
    x = data.to_tensor(config.img_size, config.in_chans, config.mean, config.std)
    return x, data.labels, f"{spec} {split}, {len(x)} images (seed {seed})"


def reference_inputs(config, options: ExportOptions) -> tuple[torch.Tensor, np.ndarray | None, str]:
    """Real images when available (Fashion-MNIST for 1-channel models by default), else seeded noise."""
    spec = options.reference_data
    if spec is None:
        from vitsdk.data import find_fashion_mnist

        if config.in_chans == 1 and find_fashion_mnist(required=False):
            spec = "fashion-mnist"
    if spec is not None:
        x, labels, text = load_images(spec, "test", options.reference_samples, config, options.seed)
        return x, labels, text
    generator = torch.Generator().manual_seed(options.seed)
    x = torch.randn(options.reference_samples, config.in_chans, config.img_size, config.img_size, generator=generator)
    return x, None, f"Gaussian noise N(0, 1), {options.reference_samples} inputs (seed {options.seed})"


def batches(x: torch.Tensor, batch: int) -> list[torch.Tensor]:
    usable = len(x) - len(x) % batch
    return [x[i:i + batch] for i in range(0, usable, batch)]


def parity(outputs: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """max |diff| relative to max |ref| (the figure checked against the tolerance) and top-1 agreement."""
    max_diff = float(np.abs(outputs - reference).max())
    max_ref = float(np.abs(reference).max())
    return {"max_abs_diff": max_diff, "max_abs_ref": max_ref, "rel_diff": max_diff / max(max_ref, 1e-12),
            "top1_agreement": float((outputs.argmax(-1) == reference.argmax(-1)).mean())}


def fp16_emulation(model: nn.Module, x: torch.Tensor, reference: np.ndarray) -> dict[str, Any]:
    """Estimated fp16-compute error: the model run in float16 by PyTorch on CPU (not Core ML itself)."""
    try:
        half = copy.deepcopy(model).half().eval()
        with torch.no_grad():
            out = half(x.half()).float().numpy()
    except Exception as exc:  # an op without a CPU float16 kernel
        return {"method": "estimated: PyTorch float16 on CPU", "error": str(exc).splitlines()[0][:160]}
    finite = bool(np.isfinite(out).all())
    figures = parity(out, reference) if finite else {}
    return {"method": "estimated: PyTorch float16 on CPU", "finite": finite, **figures}


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(-1) == labels).mean())
