"""The one table of export targets: it drives validation, `vitsdk export --help`, the README and "did you mean".

A *file target* produces one kind of file in one runtime (executorch, tflite, coreml, fpga); a *platform
target* names the file targets a platform runs (android, ios, all). Precisions are the values
`--precision` accepts for that target; the first of `defaults` is used when none is given.
"""
from __future__ import annotations

from dataclasses import dataclass

from vitsdk.errors import UserError, suggest, unknown


@dataclass(frozen=True)
class Target:
    """One row of the target table.

    Args:
        name: the `--target` value.
        summary: one line for help text and docs.
        format: file format written ('pte', 'tflite', 'mlpackage'); None for platform targets.
        suffix: file name suffix of that format.
        runtime: the runtime that executes the file (manifest `runtime`).
        precisions: accepted `--precision` values, in order of preference.
        defaults: precisions exported when `--precision` is not given.
        calibrated: the precisions that need calibration data (static int8 activation ranges).
        converter: the module whose `@register_converter` writes this target's file (imported on use).
        members: the file targets a platform target expands to.
        executable_here: whether this machine can run the file (verification in the real runtime).
        unavailable: when set, choosing the target is an error with this explanation.
    """

    name: str
    summary: str
    format: str | None = None
    suffix: str | None = None
    runtime: str | None = None
    precisions: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    calibrated: tuple[str, ...] = ()
    converter: str | None = None
    members: tuple[str, ...] = ()
    executable_here: bool = False
    unavailable: str | None = None

    def __post_init__(self) -> None:
        if bool(self.members) == bool(self.format):
            raise ValueError(f"target {self.name}: exactly one of format or members")
        if self.format and not set(self.defaults) <= set(self.precisions):
            raise ValueError(f"target {self.name}: defaults {self.defaults} not in precisions {self.precisions}")
        if not set(self.calibrated) <= set(self.precisions):
            raise ValueError(f"target {self.name}: calibrated {self.calibrated} not in precisions {self.precisions}")

    @property
    def is_platform(self) -> bool:
        return bool(self.members)

    def check_precision(self, precision: str) -> None:
        """UserError unless this file target exports `precision` (the row's `precisions`)."""
        if precision not in self.precisions:
            raise UserError(f"precision '{precision}' is not supported by target '{self.name}'"
                            f"{suggest(precision, self.precisions)}; choose from: {', '.join(self.precisions)}")

    def needs_calibration(self, precision: str) -> bool:
        return precision in self.calibrated


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("executorch", "ExecuTorch program (.pte), XNNPACK delegate; fp16 weights and activations, static "
                         "int8 or dynamic int8 linear layers via the XNNPACK quantizer",
           format="pte", suffix=".pte", runtime="executorch", precisions=("fp32", "fp16", "int8", "int8-dynamic"),
           defaults=("fp32",), calibrated=("int8",), converter="vitsdk.converters.executorch",
           executable_here=True),
    Target("tflite", "LiteRT flatbuffer (.tflite) via litert-torch; fp16 weights, dynamic-range, static int8 "
                     "linear layers, or full integer",
           format="tflite", suffix=".tflite", runtime="litert",
           precisions=("fp32", "fp16", "int8-dynamic", "int8", "int8-full"), defaults=("fp32",),
           calibrated=("int8", "int8-full"), converter="vitsdk.converters.litert", executable_here=True),
    Target("coreml", "Core ML ML program (.mlpackage); fp16 or fp32 compute, int8 weights; validated, "
                     "not executed (needs macOS)",
           format="mlpackage", suffix=".mlpackage", runtime="coreml", precisions=("fp16", "fp32", "int8"),
           defaults=("fp16",), converter="vitsdk.converters.coreml"),
    Target("fpga", "block-sparse int8 accelerator (RTL engine, AXI4-Lite IP)", format="fpga", suffix="",
           runtime="fpga", precisions=("int8",), defaults=("int8",), converter="vitsdk.converters.fpga"),
    Target("android", "ExecuTorch + LiteRT files for the Android app", members=("executorch", "tflite")),
    Target("ios", "Core ML + ExecuTorch files for the iOS app", members=("coreml", "executorch")),
    Target("all", "every available file target", members=("executorch", "tflite", "coreml", "fpga")),
)}

# Precisions whose numbers differ from fp32 by design: their parity is reported, accuracy decides.
QUANTIZED = ("fp16", "int8-dynamic", "int8", "int8-full")
# Default verification tolerance per precision: max |runtime - pytorch| / max |pytorch| over the reference inputs.
# For quantized files it only guards against broken conversions (static int8 measured 0.2-0.5 on
# briefly trained Fashion-MNIST ViTs while top-1 moved by about a point); accuracy is the real check.
# fp16 1e-2 is ~6x what ExecuTorch fp16 (weights and activations in half precision) measured on the trained
# vit_nano fixture (1.5e-3 over 64 Fashion-MNIST inputs; LiteRT fp16, weights only: 6e-4): room for deeper
# models, whose rounding error grows with depth, while a broken cast or an overflow (errors of order 1) fails.
# Token dropping in ExecuTorch fp16 can exceed it: a near-tie in the top-k token scores flips under fp16
# rounding (0.128 over 64 inputs at keep 0.7, top-1 agreement 0.995 over 1000): --allow-mismatch keeps it.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "int8-dynamic": 0.1, "int8": 0.6, "int8-full": 0.8}
# What a numerics check on a device (`vitsdk bench`, the apps) calls `pass`. fp32 and fp16 compute the same
# maths with rounding: their relative error has a bound that means something (TOLERANCE, which the manifest's
# reference.tolerances carries). Integer files differ from fp32 by design, and a relative-error bound loose
# enough for them (above) only catches broken conversions; they pass when their top-1 class agrees with fp32
# PyTorch on at least TOP1_AGREEMENT_MIN of the reference inputs (all 8 of the default 8), and their relative
# error is reported beside the agreement, not judged.
RELATIVE_BOUND_PRECISIONS = ("fp32", "fp16")
TOP1_AGREEMENT_MIN = 0.9


def list_targets() -> list[str]:
    return list(TARGETS)


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise unknown("target", name, TARGETS)
    return TARGETS[name]


def all_precisions() -> list[str]:
    seen: list[str] = []
    for target in TARGETS.values():
        seen += [p for p in target.precisions if p not in seen]
    return seen


def file_targets(name: str) -> list[Target]:
    """The file targets `name` expands to; the unavailable members of `all` are left out, of others an error."""
    target = get_target(name)
    if not target.is_platform:
        if target.unavailable:
            raise UserError(target.unavailable)
        return [target]
    members = [TARGETS[m] for m in target.members]
    if name == "all":
        return [m for m in members if not m.unavailable]
    for member in members:
        if member.unavailable:
            raise UserError(f"target '{name}' includes {member.name}: {member.unavailable}")
    return members


def plan(target: str, precisions: list[str] | None) -> list[tuple[Target, str]]:
    """(file target, precision) pairs to export. With explicit precisions, each file target gets those it
    supports; a precision no selected target supports, or a target left with none, is an error."""
    targets = file_targets(target)
    if not precisions:
        return [(t, p) for t in targets for p in t.defaults]
    known = all_precisions()
    for p in precisions:
        if p not in known:
            raise unknown("precision", p, known)
    pairs = [(t, p) for t in targets for p in precisions if p in t.precisions]
    for p in precisions:
        if not any(q == p for _, q in pairs):
            supported = "; ".join(f"{t.name}: {', '.join(t.precisions)}" for t in targets)
            raise UserError(f"precision '{p}' is not supported by target '{target}' ({supported})")
    for t in targets:
        if not any(u is t for u, _ in pairs):
            raise UserError(f"target '{target}' includes {t.name}, which supports none of "
                            f"{', '.join(precisions)} (it supports {', '.join(t.precisions)})")
    return pairs


def help_text() -> str:
    """The target table as help text (CLI --help and docs read this, so they never drift)."""
    lines = []
    for t in TARGETS.values():
        if t.is_platform:
            lines.append(f"{t.name}: {' + '.join(t.members)} ({t.summary})")
        else:
            extra = f" ({t.unavailable})" if t.unavailable else ""
            lines.append(f"{t.name}: {t.summary}; precisions {', '.join(t.precisions)} "
                         f"(default {', '.join(t.defaults)}){extra}")
    return "\n".join(lines)


def markdown_table() -> str:
    rows = ["| target | file | runtime | precisions (default first) | notes |", "|---|---|---|---|---|"]
    for t in TARGETS.values():
        if t.is_platform:
            rows.append(f"| `{t.name}` | {' + '.join(t.members)} | | | {t.summary} |")
        else:
            precisions = ", ".join(t.defaults + tuple(p for p in t.precisions if p not in t.defaults))
            rows.append(f"| `{t.name}` | `{t.suffix or '-'}` | {t.runtime} | {precisions} | "
                        f"{t.unavailable or t.summary} |")
    return "\n".join(rows)
