"""Saved configs (in checkpoints, artifacts and manifests) read back into their dataclasses, one way."""
from __future__ import annotations

import dataclasses
from typing import Any

from vitsdk.errors import UserError


def checked_config_dict(cls: type, data: dict[str, Any], what: str, current_version: int) -> dict[str, Any]:
    """A copy of `data` after refusing keys `cls` lacks and versions newer than `current_version`.

    A config from a newer vitsdk fails here with one line naming the keys or the version, instead of a
    TypeError from the dataclass.
    """
    if not isinstance(data, dict):
        raise UserError(f"{what} must be a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown_keys = sorted(set(data) - names)
    if unknown_keys:
        raise UserError(f"{what} has unknown keys {unknown_keys} (written by a newer vitsdk?)")
    version = data.get("version", current_version)
    if not isinstance(version, int) or version > current_version:
        raise UserError(f"{what} version {version} is newer than this vitsdk supports ({current_version}); "
                        f"upgrade vitsdk")
    return dict(data)
