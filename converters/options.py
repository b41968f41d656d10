"""`ExportOptions`: everything `vitsdk.converters.export` needs besides the model, validated on creation."""
from __future__ import annotations

from dataclasses import dataclass, field

from vitsdk.converters.targets import TOLERANCE
from vitsdk.errors import UserError, unknown


@dataclass
class ExportOptions:
    """Everything `export` needs besides the model.

    Args:
        target: a target or platform name from `vitsdk.converters.targets.TARGETS`.
        precisions: precisions to export (each file target gets those it supports); None: the defaults.
        calib_data: dataset for int8 calibration ('fashion-mnist', an image folder or an .npz).
        calib_samples: calibration images drawn from its train split.
        reference_samples: reference inputs stored in the bundle and used for verification.
        reference_data: where the reference inputs come from (a dataset spec; None: Fashion-MNIST when
            installed and the model takes 28x28-compatible input, else seeded Gaussian noise).
        accuracy_data: dataset whose test split measures top-1 of PyTorch and every executed file.
        accuracy_samples: test images for that accuracy.
        allow_mismatch: keep quantized files (fp16, int8-dynamic, int8) whose parity exceeds tolerance;
            their accuracy is the figure to trust. fp32 files must always match.
        tolerances: per-precision overrides of `TOLERANCE` (max |diff| / max |ref|).
        force: replace an existing bundle at the output path.
        coreml_target: Core ML minimum deployment target ('iOS17', ...).
        coreml_compression: 'auto' (sparse for a pruned model), 'none', 'sparse' or 'palettized'.
        board: the fpga target's board profile (`vitsdk.fpga.boards`): its engine is sized for it.
        batch: the static batch size of the exported graphs.
        seed: seed for sampling calibration/reference images.
    """

    target: str = "android"
    precisions: tuple[str, ...] | None = None
    calib_data: str | None = None
    calib_samples: int = 128
    reference_samples: int = 8
    reference_data: str | None = None
    accuracy_data: str | None = None
    accuracy_samples: int = 1000
    allow_mismatch: bool = False
    tolerances: dict[str, float] = field(default_factory=dict)
    force: bool = False
    coreml_target: str = "iOS17"
    coreml_compression: str = "auto"
    board: str = "zcu102"
    batch: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.precisions, str):
            self.precisions = tuple(p.strip() for p in self.precisions.split(",") if p.strip())
        elif self.precisions is not None:
            self.precisions = tuple(self.precisions)
        for name in ("calib_samples", "reference_samples", "accuracy_samples", "batch"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        for precision, tol in self.tolerances.items():
            if precision not in TOLERANCE or not tol > 0:
                raise UserError(f"tolerance for '{precision}' must be a positive number for a known precision")
        from vitsdk.converters.coreml import COMPRESSIONS

        if self.coreml_compression not in COMPRESSIONS:
            raise unknown("Core ML compression", self.coreml_compression, COMPRESSIONS)
        from vitsdk.fpga.boards import get_board

        get_board(self.board)  # an unknown board is refused before anything is exported

    def tolerance(self, precision: str) -> float:
        return float(self.tolerances.get(precision, TOLERANCE[precision]))
