"""sha256 of bytes and files: the one definition behind bundle manifests, pruned artifacts and RTL source records."""
from __future__ import annotations

import hashlib
import os


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of bytes already in memory (a manifest read once, hashed and parsed from the same bytes)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (model files can be hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
