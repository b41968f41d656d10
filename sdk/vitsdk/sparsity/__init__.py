"""Block-based pruning (balanced blocks, L2 or reweighted group lasso), compaction into smaller dense
computation, and the pruned-weights artifact (`model.safetensors` + `sparsity.json`).

Layers, bottom up: `state` (the declared pruning state a model carries) <- `config`, `masks` (`prune_`) <-
`compact` <- `artifact`, `summary`, `finetune`."""
from vitsdk.sparsity.compact import COMPACTION_MODES, ColumnBlockLinear, RowBlockLinear, compact
from vitsdk.sparsity.config import BlockPruneConfig, format_block_shape, parse_block_shape
from vitsdk.sparsity.masks import apply_masks_, prune_
from vitsdk.sparsity.state import BlockMask, block_mask, compaction_of, is_compacted, masked_layers, prune_history
from vitsdk.sparsity.artifact import load_pruned, read_sparsity, save_pruned
from vitsdk.sparsity.summary import LayerReport, SparsityReport, sparsity_report

__all__ = [
    "COMPACTION_MODES", "BlockMask", "BlockPruneConfig", "ColumnBlockLinear", "LayerReport", "RowBlockLinear",
    "SparsityReport", "apply_masks_", "block_mask", "compact", "compaction_of", "format_block_shape",
    "is_compacted", "load_pruned", "masked_layers", "parse_block_shape", "prune_", "prune_history",
    "read_sparsity", "save_pruned", "sparsity_report",
]
