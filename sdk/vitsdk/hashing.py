"""sha256 of bytes and files: the one definition behind bundle manifests, pruned artifacts and RTL source records."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


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


def path_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, or of a folder (an .mlpackage, an FPGA project) as its sorted relative paths, each
    followed by a NUL and the sha256 of its contents. The iOS app's checker hashes folders the same way."""
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(item.relative_to(path).as_posix().encode() + b"\0")
        digest.update(bytes.fromhex(file_sha256(item)))
    return digest.hexdigest()
