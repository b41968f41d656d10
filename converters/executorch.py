"""ExecuTorch (.pte) export through the XNNPACK delegate: fp32, fp16, or int8 (XNNPACK quantizer, PT2E).

int8 is static (activation ranges from calibration data, quantize/dequantize around every linear layer);
int8-dynamic quantizes each linear layer's input on the fly from its own range (XNNPACK's qd8 kernels:
int8 weights, per-channel; no calibration data), so the file carries no activation observers' guesses.
fp16 runs the whole graph in half precision (weights and activations) inside XNNPACK, with fp32 input and
output: the casts are the program's first and last ops (see `HalfPrecision`), so callers feed it like fp32.

Pipeline: `torch.export` -> (fp16: `HalfPrecision`; int8: `prepare_pt2e` / calibrate / `convert_pt2e` / re-export) ->
`to_edge_transform_and_lower(partitioner=[XnnpackPartitioner()])` -> `to_executorch`. LayerNorm has no
XNNPACK kernel and would split the graph at every block, so it is rewritten into ops XNNPACK runs
(see `export_friendly`), and shape-only ops XNNPACK lacks are rewritten into ones it has
(`views_for_xnnpack`): a dense ViT lowers to one XNNPACK subgraph. Token selection (topk, gather) stays
on ExecuTorch's portable kernels, as one contiguous portable segment per pruning block
(`SegmentPartitioner`); the delegation coverage and the number of XNNPACK subgraphs are returned.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vitsdk.atomic import atomic_path
from vitsdk.bench.runtimes import package_version
from vitsdk.converters.common import (calibration_batches, check_precision, export_friendly, pruned_fraction,
                                      standard_inputs)
from vitsdk.converters.registry import ConvertContext, ConvertedFile, register_converter
from vitsdk.converters.verify import verify_in_runtime

# Nodes that are bookkeeping, not work: they do not count against delegation coverage.
_FREE_OPS = {"getitem"}


# Ops that make an XNNPACK subgraph worth a delegate call; a subgraph with none of them is bookkeeping.
_COMPUTE_OPS = ("linear", "addmm", "mm", "bmm", "convolution", "matmul")


def segment_partitioner():
    """An XnnpackPartitioner that makes each portable stretch of a token-pruning ViT one contiguous segment.

    Token selection (mean over heads, topk, gather: no XNNPACK kernels) splits the graph. The stock
    partitioner then leaves the attention-value path of a pruning block (attn @ v, proj, residual) as a
    subgraph of its own, and small ops XNNPACK does have (slicing the CLS row, concatenating CLS and the
    kept tokens) as more: on vit_micro keep 0.7 the program had 7 XNNPACK subgraphs for 3 pruning blocks
    and ran slower than dense (1.68 vs 1.40 ms), each extra delegate call costing more than its op. Here
    subgraphs without a matmul or convolution are left to the portable kernels, and subgraphs are merged
    wherever no cycle results, so the program has len(prune_at) + 1 subgraphs.
    """
    XnnpackPartitioner, _ = _import_executorch()
    from torch.fx.passes.infra.partitioner import Partition

    class SegmentPartitioner(XnnpackPartitioner):
        def generate_partitions(self, ep):
            groups = [set(p.nodes) for p in super().generate_partitions(ep)]
            if len(groups) > 1:
                groups = [g for g in groups if any(_is_compute(n) for n in g)] or groups
            return [Partition(id=i, nodes=g) for i, g in enumerate(merge_acyclic(groups))]

    return SegmentPartitioner()


def merge_acyclic(groups: list[set]) -> list[set]:
    """Merges node groups pairwise (earliest first) wherever the union has no path leaving and re-entering it."""
    groups = list(groups)
    merged = True
    while merged:
        merged = False
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _convex(groups[i] | groups[j]):
                    groups[i] = groups[i] | groups.pop(j)
                    merged = True
                    break
            if merged:
                break
    return groups


def _convex(nodes: set) -> bool:
    """True when no node outside `nodes` lies on a path between two of its nodes (a valid delegate subgraph)."""
    frontier = [u for n in nodes for u in n.users if u not in nodes]
    seen = set(frontier)
    while frontier:
        node = frontier.pop()
        for user in node.users:
            if user in nodes:
                return False
            if user not in seen:
                seen.add(user)
                frontier.append(user)
    return True


def _is_compute(node) -> bool:
    if node.op != "call_function":
        return False
    name = str(node.target).split("(")[0].split("::")[-1].removeprefix("aten.")  # 'linear(Tensor ...', 'aten.mm.default'
    return name.split(".")[0] in _COMPUTE_OPS


def _import_executorch():
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError as exc:  # the exporters are an optional extra
        from vitsdk.errors import UserError

        raise UserError(f"ExecuTorch is not installed ({exc}); install the extra: pip install 'vitsdk[export]'") from None
    return XnnpackPartitioner, to_edge_transform_and_lower


def quantize_dynamic(model: torch.nn.Module, example_inputs: tuple) -> torch.nn.Module:
    """Dynamic int8 linear layers for XNNPACK: per-channel symmetric int8 weights, activations quantized
    per row at run time (no calibration)."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    prepared = prepare_pt2e(torch.export.export(model, example_inputs).module(), XNNPACKQuantizer().set_global(config))
    with torch.no_grad():
        prepared(*example_inputs)
    return convert_pt2e(prepared)


def quantize_int8(model: torch.nn.Module, example_inputs: tuple, calibration: torch.Tensor) -> torch.nn.Module:
    """Static int8 (symmetric per-channel weights, asymmetric per-tensor activations) for XNNPACK.

    The graph is captured with a dynamic batch so calibration runs in a few large batches: observers
    cost ~1 ms per node per call, so 64 calls of batch 1 took ~50 s where one call of 64 takes ~3 s.
    The converted model is re-exported at the static example shape by the caller.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                         get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    chunk = 64
    try:
        batch = torch.export.Dim("batch", min=1, max=4096)
        sample = calibration[:2].float().contiguous() if len(calibration) >= 2 else example_inputs[0]
        graph = torch.export.export(model, (standard_inputs((sample,))[0],), dynamic_shapes=({0: batch},)).module()
        inputs = [calibration[i:i + chunk].float() for i in range(0, len(calibration), chunk)]
    except Exception:  # a model that is not batch-polymorphic: calibrate at the example batch size
        graph = torch.export.export(model, example_inputs).module()
        inputs = list(calibration_batches(calibration, example_inputs[0].shape[0]))
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch_inputs in inputs:
            prepared(standard_inputs((batch_inputs,))[0])
    return convert_pt2e(prepared)


class TanhGELU(nn.Module):
    """GELU as 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in ops XNNPACK runs in fp16.

    XNNPACK's partitioner refuses fp16 GELU, so the exact GELU fell back to the portable kernel and split
    vit_nano's fp16 graph into 5 XNNPACK subgraphs; written out, it is one. The tanh form differs from the
    exact one by at most ~5e-4 (near |x| = 2), under fp16's rounding step there (2e-3).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


class HalfPrecision(nn.Module):
    """`model` in fp16 (weights and activations) behind fp32 input and output.

    The two casts are the program's only ops outside XNNPACK, so the .pte takes and returns float32 like the
    fp32 file: `vitsdk bench`, the runtime loader and the apps feed it unchanged.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, nn.GELU):
                    setattr(module, name, TanhGELU())
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


def fold_constants():
    """Edge pass: folds computations on constants into new constants (ExecuTorch's `constant_prop_pass`).

    In an fp16 graph, edge lowering turns each Python scalar (LayerNorm eps, attention scale, GELU's
    coefficients) into an fp32 constant cast to fp16 by its own op at every run; XNNPACK does not take
    dtype casts, so vit_nano's fp16 program had 29 portable casts around its delegate. Folded, the casts left
    are the input's and the output's.
    """
    from executorch.exir.pass_base import ExportedProgramPassBase, ExportedProgramPassResult
    from executorch.exir.passes.constant_prop_pass import constant_prop_pass

    class FoldConstants(ExportedProgramPassBase):
        def call(self, exported_program):
            return ExportedProgramPassResult(constant_prop_pass(exported_program), True)

    return FoldConstants()


def views_for_xnnpack(graph_module: torch.fx.GraphModule):
    """Edge pass: rewrites shape-only ops XNNPACK lacks into ones it has, so the graph is not split.

    `squeeze`/`unsqueeze` (from `unbind` and indexing) become `view_copy`, `select` (CLS pooling) becomes
    `slice_copy` + `view_copy`, and `expand` to the same shape (emitted by batched matmul) is dropped.
    Without it a ViT block splits into ~5 delegate calls; with it a dense ViT is one XNNPACK subgraph.
    """
    from executorch.exir.dialects._ops import ops as exir_ops
    from torch.fx.passes.infra.pass_base import PassResult

    aten = exir_ops.edge.aten
    view = aten.view_copy.default
    squeezes = (aten.squeeze_copy.dims, aten.squeeze_copy.dim, aten.squeeze_copy.default, aten.unsqueeze_copy.default)
    graph = graph_module.graph
    changed = False
    for node in list(graph.nodes):
        if node.op != "call_function" or not isinstance(node.meta.get("val"), torch.Tensor):
            continue
        shape = list(node.meta["val"].shape)
        if node.target in squeezes:
            node.target, node.args, node.kwargs = view, (node.args[0], shape), {}
            changed = True
        elif node.target == aten.expand_copy.default and list(node.args[0].meta["val"].shape) == shape:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
            changed = True
        elif node.target == aten.select_copy.int:
            source, dim, index = node.args
            source_shape = list(source.meta["val"].shape)
            dim %= len(source_shape)
            index %= source_shape[dim]
            with graph.inserting_before(node):
                sliced = graph.call_function(aten.slice_copy.Tensor, (source, dim, index, index + 1, 1))
            sliced.meta = dict(node.meta)
            sliced.meta["val"] = source.meta["val"].narrow(dim, index, 1)
            node.target, node.args, node.kwargs = view, (sliced, shape), {}
            changed = True
    if changed:
        graph.eliminate_dead_code()
        graph.lint()
        graph_module.recompile()
    return PassResult(graph_module, changed)


def delegation(graph_module: torch.fx.GraphModule) -> dict[str, Any]:
    """How much of the lowered graph XNNPACK runs: node counts and the ops left to the portable kernels."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    delegated = non_delegated = 0
    fallback: dict[str, int] = {}
    for op, breakdown in info.delegation_by_operator.items():
        if op in _FREE_OPS:
            continue
        delegated += breakdown.delegated
        non_delegated += breakdown.non_delegated
        if breakdown.non_delegated:
            fallback[op] = breakdown.non_delegated
    total = delegated + non_delegated
    return {"delegate": "xnnpack", "subgraphs": info.num_delegated_subgraphs, "delegated_nodes": delegated,
            "non_delegated_nodes": non_delegated, "coverage": round(delegated / total, 4) if total else 0.0,
            "non_delegated_ops": dict(sorted(fallback.items()))}


def weight_storage(zeros: float, size_bytes: int) -> dict[str, Any]:
    """The manifest's `weight_storage` of a .pte: always dense. XNNPACK has no sparse weight format and a
    .pte has no DENSIFY-like unpacking, so pruned zeros left in dense weights ('remove'/'auto' compaction
    of multi-strip layers) stay in the file; 'gather' drops them but ran slower, int8 quarters every weight.
    `zeros` is the pruned fraction of the caller's model: a quantised export graph has no nn.Linear left."""
    record: dict[str, Any] = {"storage": "dense", "dense_equivalent_bytes": int(size_bytes)}
    if zeros >= 0.1:
        record["note"] = (f"{100 * zeros:.0f}% of the linear weights are pruned zeros stored dense (ExecuTorch "
                          f"has no sparse weight storage); fp16 stores half the bytes, int8/int8-dynamic a quarter")
    return record


def to_pte(model: torch.nn.Module, example_inputs: tuple, path: str | os.PathLike, precision: str = "fp32",
           *, calibration: torch.Tensor | None = None) -> ConvertedFile:
    """Exports `model` to an ExecuTorch program at `path` (written atomically).

    Args:
        model: the PyTorch model (not modified).
        example_inputs: a tuple of input tensors; their shapes become the program's static shapes.
        path: the .pte file to write.
        precision: 'fp32', 'fp16' (fp16 weights and activations in XNNPACK, fp32 input and output), 'int8'
            (static int8 via the XNNPACK quantizer; needs `calibration`) or 'int8-dynamic' (int8 weights,
            activations quantized at run time; no calibration).
        calibration: float inputs (N, C, H, W), preprocessed like the model expects, for int8 ranges.

    Returns:
        what was written: delegate, delegation (coverage, subgraphs, ...), weight_storage, size, versions.
    """
    check_precision("executorch", precision, calibration)
    _, to_edge_transform_and_lower = _import_executorch()
    start = time.perf_counter()
    example_inputs = standard_inputs(example_inputs)
    zeros = pruned_fraction(model)
    model = export_friendly(model)
    passes = [views_for_xnnpack]
    if precision == "fp16":
        model = HalfPrecision(model)
        passes.append(fold_constants())
    elif precision == "int8":
        model = quantize_int8(model, example_inputs, calibration)
    elif precision == "int8-dynamic":
        model = quantize_dynamic(model, example_inputs)
    program = torch.export.export(model, example_inputs)
    edge = to_edge_transform_and_lower(program, transform_passes=passes, partitioner=[segment_partitioner()])
    coverage = delegation(edge.exported_program().graph_module)
    buffer = edge.to_executorch().buffer
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer)
    return ConvertedFile(precision, {"executorch": package_version("executorch"), "torch": package_version("torch")},
                         "xnnpack", path.stat().st_size, round(time.perf_counter() - start, 3), delegation=coverage,
                         weight_storage=weight_storage(zeros, path.stat().st_size))


@register_converter("executorch", verify=verify_in_runtime)
def convert(model: torch.nn.Module, example_inputs: tuple, path: Path, precision: str,
            context: ConvertContext) -> ConvertedFile:
    return to_pte(model, example_inputs, path, precision, calibration=context.calibration)
