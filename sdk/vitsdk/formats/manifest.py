"""Bundle manifests (`BUNDLE/manifest.json`, `vitsdk.manifest/1`): what `vitsdk export` wrote and how it checked it."""
from __future__ import annotations

from vitsdk.formats.schema import Format

MANIFEST = Format("vitsdk.manifest/1", "manifest.schema.json")
MANIFEST_FILE = "manifest.json"
REFERENCE_DIR = "reference"
