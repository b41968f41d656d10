"""The run spec (`vitsdk.run_spec/1`): what `vitsdk bench` asks the Android and iOS apps to run.

Both drivers build it with `run_spec_document` (one `model_run` per measured run) and push it to the phone;
the apps read it with their own small readers (`Specs.kt`, `RunSpec.swift`), checked against the same schema.
"""
from __future__ import annotations

from vitsdk.formats.schema import Format

RUN_SPEC = Format("vitsdk.run_spec/1", "run_spec.schema.json")


def model_run(file: str, runtime: str, delegate: str | None, threads: int | None) -> dict:
    """One run the app measures: a model file of the bundle with its runtime, delegate and CPU threads."""
    return {"file": file, "runtime": runtime, "delegate": delegate, "threads": threads}


def run_spec_document(*, run_id: str, bundle: str, output_dir: str, models: list[dict], protocol: dict) -> dict:
    """A run spec, checked against its schema before it reaches a phone.

    Args:
        run_id: names the run; the app writes its results under it.
        bundle: the bundle's folder on the phone.
        output_dir: where the app writes the results files.
        models: the runs (`model_run`), in order.
        protocol: the measurement protocol (`Protocol.to_dict()`).
    Raises AssertionError (a bug in the driver, not a user mistake) when the spec breaks the schema.
    """
    spec = {"schema": RUN_SPEC.tag, "run_id": run_id, "bundle": bundle, "output_dir": output_dir, "models": models,
            "protocol": protocol}
    problems = RUN_SPEC.errors(spec)
    if problems:
        raise AssertionError(f"the run spec breaks {RUN_SPEC.schema_file}: {problems[0]}")
    return spec
