"""Datasets: Fashion-MNIST (Debian package), image folders and .npz files, as in-memory `ImageArrays`."""
from __future__ import annotations

import os
from pathlib import Path

from vitsdk.data.arrays import ImageArrays
from vitsdk.data.fashion_mnist import find_fashion_mnist, load_fashion_mnist
from vitsdk.data.folders import load_image_folder, load_npz
from vitsdk.errors import UserError

DATASETS = ("fashion-mnist",)


def load_dataset(spec: str | os.PathLike, split: str = "train") -> ImageArrays:
    """`spec` is 'fashion-mnist', a folder of class subfolders (`spec/split/` used when present),
    or an .npz file."""
    if str(spec) == "fashion-mnist":
        return load_fashion_mnist(split)
    path = Path(spec)
    if not path.exists():
        raise UserError(f"dataset '{spec}' not found: use 'fashion-mnist', an image folder or an .npz file")
    if path.is_file():
        if path.suffix != ".npz":
            raise UserError(f"dataset file '{path}' is not an .npz")
        return load_npz(path, split)
    if (path / split).is_dir():
        path = path / split
    return load_image_folder(path)


__all__ = ["DATASETS", "ImageArrays", "find_fashion_mnist", "load_dataset", "load_fashion_mnist",
           "load_image_folder", "load_npz"]
