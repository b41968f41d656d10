"""`BlockPruneConfig`: what to prune, how much, in which block shape, scored and scheduled how."""
from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from vitsdk.errors import UserError, check_choice, suggest
from vitsdk.saved_config import checked_config_dict

PRUNE_CONFIG_VERSION = 1
DIRECTIONS = ("columns", "rows")
CRITERIA = ("l2", "group_lasso")
SCHEDULES = ("one_shot", "gradual")
# Layer groups a user can name; anything else is an fnmatch pattern over module names.
LAYER_GROUPS: dict[str, tuple[str, ...]] = {
    "mlp": ("fc1", "fc2"),
    "attn": ("qkv", "proj"),
    "fc1": ("fc1",),
    "fc2": ("fc2",),
    "qkv": ("qkv",),
    "proj": ("proj",),
}
PRUNABLE_LEAVES = ("qkv", "proj", "fc1", "fc2")
FULL = 0  # a block dimension of 0 spans the whole layer dimension ("full" on the command line)


def parse_block_shape(text: str) -> tuple[int, int]:
    """'32x32' -> (32, 32); 'fullx32' -> (0, 32): a block as tall as the layer (structured columns)."""
    match = re.fullmatch(r"\s*(\d+|full)\s*[xX*]\s*(\d+|full)\s*", text)
    if not match:
        raise UserError(f"block shape '{text}' is not ROWSxCOLS, e.g. 32x32, 16x16 or fullx32")
    dims = tuple(FULL if part == "full" else int(part) for part in match.groups())
    if any(d < 0 for d in dims) or dims == (FULL, FULL):
        raise UserError(f"block shape '{text}': give positive sizes (at most one may be 'full')")
    return dims  # type: ignore[return-value]


def format_block_shape(shape: tuple[int, int]) -> str:
    return "x".join("full" if d == FULL else str(d) for d in shape)


def check_ratio(name: str, value: float) -> float:
    """Prune ratios live in [0, 1): 0 prunes nothing, 1 would prune the whole layer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise UserError(f"{name} must be in [0, 1), got {value}")
    return float(value)


@dataclass(frozen=True)
class BlockPruneConfig:
    """Balanced block pruning of the transformer's linear layers.

    Args:
        block_shape: (rows, cols) of one block of a weight (out x in); 0 means the whole dimension.
        ratio: fraction pruned in every block, in [0, 1) (the same count in each block: balanced).
        direction: 'columns' prunes whole columns inside each block (input features of a row strip),
            'rows' prunes whole rows inside each block (outputs of a column strip).
        layers: layer groups ('mlp', 'attn', 'fc1', 'fc2', 'qkv', 'proj') or fnmatch patterns over module
            names ('blocks.1[01].mlp.*'); only the linear layers of the transformer blocks are prunable.
        layer_ratios: per-layer ratio overrides, fnmatch pattern -> ratio (the first match wins).
        criterion: 'l2' scores each column (row) piece by its L2 norm, one shot; 'group_lasso' first
            fine-tunes with a reweighted group-lasso penalty on those pieces, then prunes by L2.
        schedule: 'one_shot' prunes to the target at once; 'gradual' raises the ratio over the
            fine-tuning steps (cubic ramp, Zhu & Gupta 2017) and re-prunes as it goes.
        lasso_strength: weight of the group-lasso penalty in the loss.
        lasso_fraction: share of the fine-tuning epochs spent regularising before pruning (group_lasso).
        gradual_fraction: share of the fine-tuning steps over which the gradual ramp runs.
        prune_steps: number of re-pruning points on the gradual ramp.
    """

    block_shape: tuple[int, int] = (32, 32)
    ratio: float = 0.5
    direction: str = "columns"
    layers: tuple[str, ...] = ("mlp", "attn")
    layer_ratios: dict[str, float] = field(default_factory=dict)
    criterion: str = "l2"
    schedule: str = "one_shot"
    lasso_strength: float = 1e-4
    lasso_fraction: float = 0.5
    gradual_fraction: float = 0.7
    prune_steps: int = 10
    version: int = PRUNE_CONFIG_VERSION

    def __post_init__(self) -> None:
        shape = self.block_shape
        if isinstance(shape, str):
            shape = parse_block_shape(shape)
        shape = tuple(int(d) for d in shape)
        if len(shape) != 2 or any(d < 0 for d in shape) or shape == (FULL, FULL):
            raise UserError(f"block_shape must be (rows, cols) with positive sizes (0 = whole dimension), got {shape}")
        object.__setattr__(self, "block_shape", shape)
        object.__setattr__(self, "ratio", check_ratio("ratio", self.ratio))
        layers = (self.layers,) if isinstance(self.layers, str) else tuple(self.layers)
        if not layers:
            raise UserError("layers is empty: name at least one of " + ", ".join(LAYER_GROUPS))
        for item in layers:
            if item not in LAYER_GROUPS and not any(ch in item for ch in ".*?["):
                raise UserError(f"unknown layer group '{item}'{suggest(item, LAYER_GROUPS)}; choose from "
                                f"{', '.join(LAYER_GROUPS)} or give a module-name pattern like 'blocks.*.mlp.fc1'")
        object.__setattr__(self, "layers", layers)
        ratios = {str(k): check_ratio(f"layer ratio for '{k}'", v) for k, v in dict(self.layer_ratios).items()}
        object.__setattr__(self, "layer_ratios", ratios)
        for name, value, options in (("direction", self.direction, DIRECTIONS), ("criterion", self.criterion, CRITERIA),
                                     ("schedule", self.schedule, SCHEDULES)):
            check_choice(name, value, options)
        if self.lasso_strength < 0:
            raise UserError(f"lasso_strength must be >= 0, got {self.lasso_strength}")
        for name in ("lasso_fraction", "gradual_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise UserError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.prune_steps < 1:
            raise UserError(f"prune_steps must be >= 1, got {self.prune_steps}")

    def selects(self, name: str) -> bool:
        """Whether module `name` (e.g. 'blocks.3.mlp.fc1') is chosen by `layers`."""
        leaf = name.rsplit(".", 1)[-1]
        if not re.fullmatch(r"blocks\.\d+\.(attn|mlp)\.\w+", name) or leaf not in PRUNABLE_LEAVES:
            return False
        for item in self.layers:
            if item in LAYER_GROUPS:
                if leaf in LAYER_GROUPS[item]:
                    return True
            elif fnmatch.fnmatchcase(name, item):
                return True
        return False

    def ratio_for(self, name: str) -> float:
        for pattern, ratio in self.layer_ratios.items():
            if fnmatch.fnmatchcase(name, pattern) or name.endswith("." + pattern):
                return ratio
        return self.ratio

    def replace(self, **changes: Any) -> "BlockPruneConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["block_shape"] = list(self.block_shape)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BlockPruneConfig":
        data = checked_config_dict(cls, data, "prune config", PRUNE_CONFIG_VERSION)
        data["block_shape"] = tuple(data.get("block_shape", (32, 32)))
        data["layers"] = tuple(data.get("layers", ("mlp", "attn")))
        return cls(**data)
