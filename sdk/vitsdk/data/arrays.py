"""`ImageArrays`: a labelled image set held in memory as uint8 NHWC, and its conversion to model input."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vitsdk.errors import UserError


@dataclass
class ImageArrays:
    """Images (N, H, W, C) uint8 and labels (N,) int64, plus class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    source: str = ""

    def __post_init__(self) -> None:
        if self.images.ndim == 3:
            self.images = self.images[..., None]
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise UserError(f"{self.source or 'dataset'}: images must be uint8 (N, H, W[, C]), "
                            f"got {self.images.dtype} {self.images.shape}")
        self.labels = np.asarray(self.labels).astype(np.int64).reshape(-1)
        if len(self.labels) != len(self.images):
            raise UserError(f"{self.source or 'dataset'}: {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, count: int | None = None, seed: int = 0) -> "ImageArrays":
        """The first `count` images after a seeded shuffle (all of them when `count` is None)."""
        if count is None or count >= len(self):
            return self
        index = np.random.default_rng(seed).permutation(len(self))[:count]
        return ImageArrays(self.images[index], self.labels[index], self.class_names, self.source)

    def to_tensor(self, img_size: int, in_chans: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
        """Float NCHW, resized to `img_size`, converted to `in_chans`, normalised by mean/std."""
        x = torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[1] != in_chans:
            if x.shape[1] == 1:
                x = x.expand(-1, in_chans, -1, -1)
            elif in_chans == 1:
                x = x.mean(dim=1, keepdim=True)
            else:
                raise UserError(f"cannot convert {x.shape[1]}-channel images to {in_chans} channels")
        if x.shape[-1] != img_size or x.shape[-2] != img_size:
            x = F.interpolate(x, size=(img_size, img_size), mode="bilinear", align_corners=False)
        mean_t = torch.tensor(mean).view(1, -1, 1, 1)
        std_t = torch.tensor(std).view(1, -1, 1, 1)
        return ((x - mean_t) / std_t).contiguous()
