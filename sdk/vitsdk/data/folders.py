"""User datasets: an image folder (one subfolder per class) or an `.npz` file of arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vitsdk.data.arrays import ImageArrays
from vitsdk.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}


def load_image_folder(root: Path, size: int | None = None) -> ImageArrays:
    """root/CLASS/*.png -> arrays; classes sorted by name; images resized to `size` if given."""
    from PIL import Image

    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise UserError(f"'{root}' has no class subfolders (expected root/CLASS_NAME/image.png)")
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as im:
                    im = im.convert("L" if im.mode in ("L", "1", "I;16") else "RGB")
                    if size is not None:
                        im = im.resize((size, size))
                    images.append(np.asarray(im, dtype=np.uint8))
            except OSError as exc:
                raise UserError(f"cannot read image '{file}': {exc}") from None
            labels.append(label)
    if not images:
        raise UserError(f"'{root}' has class folders but no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise UserError(f"images in '{root}' have different sizes {sorted(shapes)[:3]}; pass an image size")
    return ImageArrays(np.stack(images), np.array(labels), classes, source=str(root))


def load_npz(path: Path, split: str) -> ImageArrays:
    """An .npz with x_train/y_train/x_test/y_test (or images/labels for a single split), uint8 images."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read '{path}': {exc}") from None
    x_key, y_key = NPZ_KEYS.get(split, ("images", "labels"))
    if x_key not in data and "images" in data:
        x_key, y_key = "images", "labels"
    if x_key not in data or y_key not in data:
        raise UserError(f"'{path}' needs arrays {x_key}/{y_key} (or images/labels); it has {sorted(data.files)}")
    labels = data[y_key]
    names = [str(n) for n in data["class_names"]] if "class_names" in data else \
        [str(i) for i in range(int(labels.max()) + 1)]
    return ImageArrays(np.asarray(data[x_key]), labels, names, source=str(path))
