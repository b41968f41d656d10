"""The run spec (`vitsdk.run_spec/1`): what `vitsdk bench` asks the Android and iOS apps to run."""
from __future__ import annotations

from vitsdk.formats.schema import Format

RUN_SPEC = Format("vitsdk.run_spec/1", "run_spec.schema.json")
