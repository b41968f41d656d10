"""Datasets: the real Fashion-MNIST files, image folders, .npz, and clear errors."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from PIL import Image

from vitsdk.data import load_dataset
from vitsdk.data.fashion_mnist import find_fashion_mnist, read_idx
from vitsdk.errors import UserError


def test_fashion_mnist_real_files():
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    assert train.images.shape == (60000, 28, 28, 1) and test.images.shape == (10000, 28, 28, 1)
    assert np.bincount(test.labels).tolist() == [1000] * 10
    x = test.subset(8).to_tensor(28, 1, (0.2860,), (0.3530,))
    assert x.shape == (8, 1, 28, 28) and abs(float(x.mean())) < 1.0


def test_missing_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match="does not hold the Fashion-MNIST IDX files"):
        find_fashion_mnist(tmp_path)


def test_truncated_idx_is_detected(tmp_path):
    path = tmp_path / "t.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(UserError, match="truncated"):
        read_idx(path)


def test_image_folder_and_npz(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(tmp_path / "imgs" / label / f"{i}.png")
    data = load_dataset(tmp_path / "imgs")
    assert data.images.shape == (6, 8, 8, 3) and data.class_names == ["cat", "dog"]
    assert data.to_tensor(16, 1, (0.5,), (0.5,)).shape == (6, 1, 16, 16)
    np.savez(tmp_path / "d.npz", x_train=np.zeros((4, 5, 5), np.uint8), y_train=np.arange(4))
    assert len(load_dataset(tmp_path / "d.npz", "train")) == 4
    with pytest.raises(UserError, match="x_test/y_test"):
        load_dataset(tmp_path / "d.npz", "test")


def test_unknown_dataset_spec():
    with pytest.raises(UserError, match="not found"):
        load_dataset("mnist-fashion")
