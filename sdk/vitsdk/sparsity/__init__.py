"""Block-based pruning (balanced blocks, L2 or reweighted group lasso), compaction into smaller dense
computation, and the pruned-weights artifact (`model.safetensors` + `sparsity.json`)."""
from vitsdk.sparsity.compact import COMPACTION_MODES, ColumnBlockLinear, RowBlockLinear, compact, is_compacted
from vitsdk.sparsity.config import BlockPruneConfig, format_block_shape, parse_block_shape
from vitsdk.sparsity.masks import BlockMask, apply_masks_, masked_layers, prune_

__all__ = [
    "COMPACTION_MODES", "BlockMask", "BlockPruneConfig", "ColumnBlockLinear", "RowBlockLinear", "apply_masks_",
    "compact", "format_block_shape", "is_compacted", "masked_layers", "parse_block_shape", "prune_",
]
from vitsdk.sparsity.artifact import load_pruned, read_sparsity, save_pruned  # noqa: E402
from vitsdk.sparsity.summary import LayerReport, SparsityReport, sparsity_report  # noqa: E402

__all__ += ["LayerReport", "SparsityReport", "load_pruned", "read_sparsity", "save_pruned", "sparsity_report"]
