"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package (IDX gzip files, 60k train + 10k test).

`make setup` (or `python -m vitsdk.data.fetch`) unpacks the package into the user cache without root.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from vitsdk.data.arrays import ImageArrays
from vitsdk.errors import UserError

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
PACKAGE_SUBDIR = Path("usr/share/datasets/fashion-mnist")
HOW_TO_GET = ("run `make setup` (or `python -m vitsdk.data.fetch`), or `apt-get install dataset-fashion-mnist`, "
              "or pass the folder holding the IDX files")


def cache_root() -> Path:
    """Where fetched datasets live: $VITSDK_DATA, else ~/.cache/vitsdk/datasets."""
    if os.environ.get("VITSDK_DATA"):
        return Path(os.environ["VITSDK_DATA"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vitsdk" / "datasets"


def candidate_dirs() -> list[Path]:
    return [cache_root() / "fashion-mnist" / PACKAGE_SUBDIR, Path("/") / PACKAGE_SUBDIR]


def has_files(folder: Path) -> bool:
    return all((folder / name).is_file() for pair in FILES.values() for name in pair)


def find_fashion_mnist(root: str | os.PathLike | None = None, required: bool = True) -> Path | None:
    """The folder holding the four IDX files: `root` if given, else the cache, else the system package."""
    if root is not None:
        folder = Path(root)
        for option in (folder, folder / PACKAGE_SUBDIR):
            if has_files(option):
                return option
        raise UserError(f"'{folder}' does not hold the Fashion-MNIST IDX files {list(FILES['train'] + FILES['test'])}")
    for folder in candidate_dirs():
        if has_files(folder):
            return folder
    if required:
        raise UserError(f"Fashion-MNIST not found (looked in {', '.join(map(str, candidate_dirs()))}); {HOW_TO_GET}")
    return None


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzip): magic (2 zero bytes, dtype 0x08, ndim), big-endian dims, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise UserError(f"'{path}' is not an IDX uint8 file")
    ndim = data[3]
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UserError(f"'{path}' is truncated: expected {int(np.prod(dims))} values, found {body.size}")
    return body.reshape(dims)


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None) -> ImageArrays:
    if split not in FILES:
        raise UserError(f"unknown split '{split}'; choose from: {', '.join(FILES)}")
    folder = find_fashion_mnist(root)
    images_file, labels_file = FILES[split]
    return ImageArrays(read_idx(folder / images_file), read_idx(folder / labels_file), list(CLASS_NAMES),
                       source=f"fashion-mnist/{split}")
