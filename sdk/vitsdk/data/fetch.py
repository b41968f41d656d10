"""Fetches Debian's `dataset-fashion-mnist` into the vitsdk cache without root (`apt-get download` +
`dpkg-deb -x`). Safe to run twice: does nothing when the files are already there."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vitsdk.data.fashion_mnist import PACKAGE_SUBDIR, cache_root, find_fashion_mnist, has_files

PACKAGE = "dataset-fashion-mnist"


def fetch() -> Path:
    found = find_fashion_mnist(required=False)
    if found is not None:
        return found
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SystemExit(f"error: `{tool}` not found: fetching Fashion-MNIST needs Debian's apt tools "
                             f"(or put the IDX files in {cache_root() / 'fashion-mnist' / PACKAGE_SUBDIR})")
    target = cache_root() / "fashion-mnist"
    with tempfile.TemporaryDirectory() as tmp:
        download = subprocess.run(["apt-get", "download", PACKAGE], cwd=tmp, capture_output=True, text=True)
        if download.returncode != 0:
            raise SystemExit(f"error: `apt-get download {PACKAGE}` failed: {download.stderr.strip()[-300:]} "
                             f"(the package lists may be missing: run `apt-get update` once)")
        deb = next(Path(tmp).glob("*.deb"))
        staging = Path(tempfile.mkdtemp(dir=target.parent if target.parent.exists() else None))
        try:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
            if not has_files(staging / PACKAGE_SUBDIR):
                raise SystemExit(f"error: {deb.name} does not contain the expected IDX files")
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target / PACKAGE_SUBDIR


if __name__ == "__main__":
    cache_root().mkdir(parents=True, exist_ok=True)
    print(f"Fashion-MNIST: {fetch()}", file=sys.stderr)
