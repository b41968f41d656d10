"""The one numerics check of every device: a model's outputs on the bundle's reference inputs against the
reference outputs the exporter recorded, judged by the manifest's metric and tolerance.

The host runner calls it with the loaded runtime; the browser server with the outputs the page posted.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from vitsdk.converters.targets import TOP1_AGREEMENT_MIN
from vitsdk.formats.manifest import Bundle, ModelFile
from vitsdk.formats.results import skipped_numerics

METRIC = "max_abs_diff / max_abs_ref"   # the manifest's reference metric


def check_outputs(bundle: Bundle, model: ModelFile, run: Callable[[np.ndarray], np.ndarray],
                  shape: tuple[int, ...] | None, dtype: np.dtype) -> dict:
    """The results' `numerics` block: `run` on the bundle's reference inputs (batches of `shape[0]`, as
    `dtype`) against the reference outputs, judged by the manifest's metric (max |diff| / max |reference|)
    and its tolerance for the file's precision; integer precisions by top-1 agreement."""
    ref = bundle.reference()
    if ref is None:
        return skipped_numerics("the bundle has no reference arrays")
    inputs, expected = ref
    batch = (shape or inputs.shape)[0]
    usable = len(inputs) - len(inputs) % batch
    if usable == 0 or (shape and inputs.shape[1:] != tuple(shape[1:])):
        return skipped_numerics(f"reference inputs {list(inputs.shape)} do not fit the model input")
    got = np.concatenate([np.asarray(run(np.ascontiguousarray(inputs[i:i + batch].astype(dtype))))
                          for i in range(0, usable, batch)]).astype(np.float64)
    want = expected[:usable].astype(np.float64)
    if got.shape != want.shape:
        return {"status": "fail", "reason": f"output shape {list(got.shape)} != reference {list(want.shape)}"}
    diff = float(np.max(np.abs(got - want)))
    rel = diff / max(float(np.max(np.abs(want))), 1e-12)
    top1 = float(np.mean(got.reshape(len(got), -1).argmax(1) == want.reshape(len(want), -1).argmax(1)))
    tol = bundle.tolerance(model.precision or "fp32")
    if tol is not None:
        ok, metric = rel <= tol, METRIC
        reason = None if ok else f"max |diff| / max |ref| = {rel:.3g} > {tol:.3g}"
    else:
        ok, metric = top1 >= TOP1_AGREEMENT_MIN, "top1_agree"
        reason = None if ok else (f"top-1 agreement {top1:.3g} < {TOP1_AGREEMENT_MIN} on {usable} reference inputs "
                                  f"(max |diff| / max |ref| = {rel:.3g}, reported, not judged for this precision)")
    return {"status": "pass" if ok else "fail", "reason": reason, "metric": metric, "max_abs_diff": diff,
            "rel_diff": rel, "tolerance": tol, "top1_agree": top1}
