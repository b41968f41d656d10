"""Which model variant a result measured: dense, pruned, token-dropped, quantised (or a mix).

Derived from the result's `model` block (precision) and the bundle manifest it came from (model config,
sparsity settings, accuracy), never from file names. The results schema (`vitsdk.results/1`) carries no
variant or accuracy of its own, so without a manifest the sparsity is reported as unknown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vitsdk.formats.manifest import Bundle

# Where a vitsdk.manifest/1 (schemas/manifest.schema.json) keeps what the report needs; first match wins.
KEEP_RATE_AT = (("sparsity", "keep_rate"), ("model", "keep_rate"))
ATTN_KEEP_AT = (("sparsity", "attn_keep"), ("model", "attn_keep"))
PRUNING_AT = ("sparsity", "pruning")        # null: dense weights; else {"ratio": ..., "block_shape": ...}
QUANTISED_PREFIXES = ("int", "uint", "fixed", "q", "dynamic")


def _at(document: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


def _first(document: dict, paths: tuple[tuple[str, ...], ...]) -> Any:
    for path in paths:
        value = _at(document, path)
        if value is not None:
            return value
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def prune_ratio(pruning: Any) -> float | None:
    """The block-pruned fraction from a manifest's `sparsity.pruning`: 0 for null (dense), None if unknown."""
    if pruning is None:
        return 0.0
    if isinstance(pruning, dict):
        ratio = _number(pruning.get("ratio"))
        if ratio is not None:
            return ratio
        stored, dense = _number(pruning.get("params_stored")), _number(pruning.get("params_dense"))
        if stored is not None and dense:
            return 1.0 - stored / dense
    return None


def accuracy_of(value: Any) -> tuple[float | None, str | None]:
    """(top-1 as a fraction, dataset/split text) from a number (fraction or percent) or a dict."""
    if isinstance(value, dict):
        label = " ".join(str(value[k]) for k in ("dataset", "split") if isinstance(value.get(k), str)) or None
        if label and isinstance(value.get("n"), int):
            label += f", n={value['n']}"
        for key in ("top1", "top1_accuracy", "accuracy", "value"):
            number = _number(value.get(key))
            if number is not None:
                return accuracy_of(number)[0], label
        return None, label
    number = _number(value)
    if number is None or number < 0 or number > 100:
        return None, None
    return (number / 100.0 if number > 1.0 else number), None


def is_quantised(precision: str | None) -> bool | None:
    if not precision:
        return None
    return precision.lower().startswith(QUANTISED_PREFIXES)


@dataclass(frozen=True)
class Variant:
    """The compression applied to a measured model file; None means the report cannot tell."""

    model_name: str | None
    precision: str | None
    quantised: bool | None
    keep_rate: float | None          # token keep rate at each pruning block (1 = no token dropping)
    attn_keep: float | None
    prune_ratio: float | None        # block-pruned fraction of the prunable weights (0 = dense)
    accuracy: float | None           # top-1, a fraction
    accuracy_source: str | None

    @property
    def token_dropped(self) -> bool | None:
        return None if self.keep_rate is None else self.keep_rate < 1.0

    @property
    def pruned(self) -> bool | None:
        return None if self.prune_ratio is None else self.prune_ratio > 0.0

    @property
    def kind(self) -> str:
        """dense | pruned | token-dropped | quantised, joined with '+' for mixes; 'unknown' parts say so."""
        parts = [name for name, flag in (("pruned", self.pruned), ("token-dropped", self.token_dropped),
                                         ("quantised", self.quantised)) if flag]
        if parts:
            kind = "+".join(parts)
            return kind if self.pruned is not None and self.token_dropped is not None else kind + " (sparsity unknown)"
        if self.pruned is None or self.token_dropped is None:
            return "sparsity unknown"
        return "dense"

    @property
    def detail(self) -> str:
        """The settings behind the kind: 'pruned 50%, keep 0.7, int8'."""
        bits = []
        if self.pruned:
            bits.append(f"pruned {self.prune_ratio:.0%}")
        if self.token_dropped:
            bits.append(f"keep {self.keep_rate:g}")
        if self.attn_keep is not None and self.attn_keep < 1.0:
            bits.append(f"attn keep {self.attn_keep:g}")
        bits.append(self.precision or "precision unknown")
        return ", ".join(bits)

    @property
    def label(self) -> str:
        return f"{self.kind} ({self.detail})"

    def sort_key(self) -> tuple:
        order = {"dense": 0, "pruned": 1, "token-dropped": 2, "quantised": 3}
        return (self.model_name or "", order.get(self.kind, 4 + self.kind.count("+")), self.kind, self.detail)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "detail": self.detail, "model_name": self.model_name,
                "precision": self.precision, "quantised": self.quantised, "pruned": self.pruned,
                "prune_ratio": self.prune_ratio, "token_dropped": self.token_dropped,
                "keep_rate": self.keep_rate, "attn_keep": self.attn_keep}


def variant_of(document: dict, manifest: Bundle | None) -> Variant:
    """The variant of one results document, using its bundle manifest when one was found."""
    model = document["model"]
    precision = model.get("precision")
    entry = manifest.file_entry(model["file"], model["sha256"]) if manifest else None
    if precision is None and entry is not None and isinstance(entry.get("precision"), str):
        precision = entry["precision"]
    keep_rate = attn_keep = ratio = accuracy = None
    source = None
    name = model.get("name")
    if manifest is not None:
        doc = manifest.manifest
        keep_rate = _number(_first(doc, KEEP_RATE_AT))
        attn_keep = _number(_first(doc, ATTN_KEEP_AT))
        sparsity = doc.get("sparsity")
        ratio = prune_ratio(sparsity.get("pruning")) if isinstance(sparsity, dict) and "pruning" in sparsity else None
        # The file's own accuracy; the manifest's top-level one is PyTorch fp32, so it stands only for fp32 files.
        raw = entry.get("accuracy") if entry is not None else None
        if raw is None and precision == "fp32":
            raw = doc.get("accuracy")
        accuracy, dataset = accuracy_of(raw)
        if accuracy is not None:
            source = "bundle manifest" + (f" ({dataset})" if dataset else "")
        name = name or _at(doc, ("model", "name"))
    return Variant(model_name=name, precision=precision, quantised=is_quantised(precision), keep_rate=keep_rate,
                   attn_keep=attn_keep, prune_ratio=ratio, accuracy=accuracy, accuracy_source=source)
