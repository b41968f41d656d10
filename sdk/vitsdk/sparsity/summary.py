"""`sparsity_report`: per pruned layer what is kept, stored and computed (masked or compacted model)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from torch import nn

from vitsdk.models.accounting import count, linear_macs_per_token
from vitsdk.sparsity.state import block_mask, compaction_of, layer_info


@dataclass
class LayerReport:
    name: str
    shape: tuple[int, int]  # (out, in) before pruning
    block: tuple[int, int] | None
    direction: str | None
    ratio: float  # asked
    kept_fraction: float  # of the weight's entries
    params: int  # weights + bias the layer holds now (compacted: incl. zero padding)
    params_dense: int
    macs_per_token: int  # what the layer computes now
    macs_per_token_dense: int
    module: str  # Linear (dense or masked), ColumnBlockLinear, RowBlockLinear


@dataclass
class SparsityReport:
    layers: list[LayerReport] = field(default_factory=list)
    params: int = 0
    macs: int = 0
    compaction: str = "mask"

    @property
    def kept_fraction(self) -> float:
        dense = sum(l.shape[0] * l.shape[1] for l in self.layers)
        return sum(l.kept_fraction * l.shape[0] * l.shape[1] for l in self.layers) / dense if dense else 1.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["kept_fraction"] = self.kept_fraction
        return data


def sparsity_report(model: nn.Module) -> SparsityReport:
    """One row per linear layer of the transformer blocks (pruned or not), plus model totals."""
    rows = []
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if not name.startswith("blocks.") or leaf not in ("qkv", "proj", "fc1", "fc2"):
            continue
        mask = block_mask(module)
        info = layer_info(module)
        if mask is not None:
            shape, block, direction, ratio, kept = mask.shape, mask.block, mask.direction, mask.ratio, mask.kept_fraction
        elif info is not None:
            shape, block, direction, ratio, kept = (info.source_shape, info.block, info.direction, info.ratio,
                                                    info.kept_fraction)
        else:
            shape, block, direction, ratio, kept = ((module.out_features, module.in_features), None, None, 0.0, 1.0)
        params = sum(p.numel() for p in module.parameters())
        rows.append(LayerReport(
            name=name, shape=tuple(shape), block=None if block is None else tuple(block), direction=direction,
            ratio=float(ratio), kept_fraction=float(kept), params=int(params),
            params_dense=int(shape[0] * shape[1] + shape[0]), macs_per_token=linear_macs_per_token(module),
            macs_per_token_dense=int(shape[0] * shape[1]), module=type(module).__name__))
    acc = count(model)
    return SparsityReport(layers=rows, params=acc.params, macs=acc.macs, compaction=compaction_of(model))
