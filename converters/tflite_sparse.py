"""Block-sparse weight storage in a .tflite flatbuffer: pruned zeros leave the file, dense kernels stay.

The TFLite schema can store a constant tensor sparsely (`Tensor.sparsity`: `SparsityParameters` with a
`traversal_order`, a `block_map` and one `DimensionMetadata` per traversed dimension, DENSE or
SPARSE_CSR with `array_segments`/`array_indices`). A `DENSIFY` operator turns it back into the dense
tensor; the XNNPACK delegate runs DENSIFY of a constant once, when it is applied ("static unpacking",
float32/float16/int8), and the FULLY_CONNECTED that reads it sees an ordinary static weight. So the file
shrinks with the pruning ratio while inference runs the same dense kernels at the same speed.

Block-pruned weights (whole columns or rows pruned inside every br x bc block) are zero in (g x 1) or
(1 x g) pieces; for each FULLY_CONNECTED weight the piece shape that stores fewest bytes is chosen from
the weight's zeros themselves, so any block shape and `full` are handled alike. Where structural removal
('remove'/'auto' compaction) deleted some rows of a strip, the strips no longer tile the weight and the
choice falls back to single values (1 x 1: one index byte or two per kept value). A weight is rewritten only when that saves at least `MIN_SAVING` of its bytes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SAVING = 0.10  # below this, the DENSIFY op and index arrays are not worth it
_DENSIFY = 124  # BuiltinOperator.DENSIFY
_FULLY_CONNECTED = 9  # BuiltinOperator.FULLY_CONNECTED
_DEQUANTIZE = 6  # BuiltinOperator.DEQUANTIZE (fp16 weights reach FULLY_CONNECTED through it)
_PIECES = (1024, 768, 512, 384, 256, 192, 128, 64, 32, 16, 8, 4, 2, 1)  # run lengths tried, longest first


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


_DTYPES = {0: np.float32, 1: np.float16, 9: np.int8}  # TensorType FLOAT32, FLOAT16, INT8


@dataclass(frozen=True)
class Layout:
    """How one 2-D weight is stored: pieces of `block` (rows, cols); `kept` pieces of `total`."""

    block: tuple[int, int]
    kept: int
    total: int
    stored_bytes: int
    dense_bytes: int


def _candidates(shape: tuple[int, int]) -> list[tuple[int, int]]:
    out_f, in_f = shape
    blocks = [(g, 1) for g in (out_f,) + _PIECES if g <= out_f and out_f % g == 0]
    blocks += [(1, g) for g in (in_f,) + _PIECES if g <= in_f and in_f % g == 0]
    return list(dict.fromkeys(blocks))


def _kept_pieces(weight: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """(R, C) bool: which (br x bc) pieces hold a nonzero."""
    br, bc = block
    out_f, in_f = weight.shape
    return (weight.reshape(out_f // br, br, in_f // bc, bc) != 0).any(axis=(1, 3))


def _index_bytes(largest: int) -> int:
    return 1 if largest < 2**8 else 2 if largest < 2**16 else 4


def best_layout(weight: np.ndarray) -> Layout:
    """The piece shape that stores `weight` in the fewest bytes (values + CSR segments + indices)."""
    dense = weight.size * weight.itemsize
    best = Layout((weight.shape[0], weight.shape[1]), 1, 1, dense, dense)
    for block in _candidates(weight.shape):
        kept = _kept_pieces(weight, block)
        rows, cols = kept.shape
        n = int(kept.sum())
        stored = (n * block[0] * block[1] * weight.itemsize + (rows + 1) * _index_bytes(n)
                  + n * _index_bytes(cols))
        if stored < best.stored_bytes:
            best = Layout(block, n, kept.size, stored, dense)
    return best


def _index_vector(values: np.ndarray):
    """A SparseIndexVector union member (type, table) in the narrowest integer type that holds `values`."""
    schema = _schema()
    largest = int(values.max()) if values.size else 0
    if largest < 2**8:
        vector, kind = schema.Uint8VectorT(), schema.SparseIndexVector.Uint8Vector
        vector.values = values.astype(np.uint8)
    elif largest < 2**16:
        vector, kind = schema.Uint16VectorT(), schema.SparseIndexVector.Uint16Vector
        vector.values = values.astype(np.uint16)
    else:
        vector, kind = schema.Int32VectorT(), schema.SparseIndexVector.Int32Vector
        vector.values = values.astype(np.int32)
    return kind, vector


def encode(weight: np.ndarray, block: tuple[int, int]):
    """(values, SparsityParametersT): dim 0 of the block grid dense, dim 1 CSR, each piece dense inside."""
    schema = _schema()
    br, bc = block
    out_f, in_f = weight.shape
    R, C = out_f // br, in_f // bc
    pieces = weight.reshape(R, br, C, bc).transpose(0, 2, 1, 3)  # (R, C, br, bc)
    kept = _kept_pieces(weight, block)
    values = np.ascontiguousarray(pieces[kept]).reshape(-1)  # row-major over (R, C): the traversal order
    segments = np.concatenate([[0], np.cumsum(kept.sum(axis=1))])
    indices = np.nonzero(kept)[1]
    dims = []
    for size, sparse in ((R, False), (C, True), (br, False), (bc, False)):
        dim = schema.DimensionMetadataT()
        if sparse:
            dim.format = schema.DimensionType.SPARSE_CSR
            dim.arraySegmentsType, dim.arraySegments = _index_vector(segments)
            dim.arrayIndicesType, dim.arrayIndices = _index_vector(indices)
        else:
            dim.format = schema.DimensionType.DENSE
            dim.denseSize = size
        dims.append(dim)
    sparsity = schema.SparsityParametersT()
    sparsity.traversalOrder = [0, 1, 2, 3]
    sparsity.blockMap = [0, 1]
    sparsity.dimMetadata = dims
    return values, sparsity


def _opcode(model, builtin: int) -> int:
    schema = _schema()
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _aligned_builder(flatbuffers, size: int):
    """A flatbuffers Builder that starts every byte vector (weight buffers) on a 16-byte boundary, as the
    TFLite converter does, so kernels may read weights in place."""
    class Builder(flatbuffers.Builder):
        def CreateNumpyVector(self, x):
            if x.dtype == np.uint8:
                self.Prep(16, x.size)
            return super().CreateNumpyVector(x)

    return Builder(size)


def sparsify(buffer: bytes, min_saving: float = MIN_SAVING) -> tuple[bytes, dict]:
    """Rewrites the FULLY_CONNECTED weights of a .tflite buffer with zero pieces into block-sparse tensors.

    Returns the new buffer (the input unchanged when no weight qualifies) and a summary:
    {tensors, weight_bytes_dense, weight_bytes_stored, layouts: {block: count}}.
    """
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(buffer), 0)
    for stored in model.buffers:  # data kept after the flatbuffer (ai-edge-quantizer writes it so): inline it
        if stored.offset > 1:
            stored.data = np.frombuffer(buffer[stored.offset:stored.offset + stored.size], dtype=np.uint8)
            stored.offset = stored.size = 0
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes]
    summary = {"tensors": 0, "weight_bytes_dense": 0, "weight_bytes_stored": 0, "layouts": {}}
    densify = None
    users: dict[int, int] = {}
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            users[tensor.buffer] = users.get(tensor.buffer, 0) + 1
    for subgraph in model.subgraphs:
        done: set[int] = set()
        new_ops = []
        dequantized = {int(op.outputs[0]): int(op.inputs[0]) for op in subgraph.operators
                       if codes[op.opcodeIndex] == _DEQUANTIZE}
        for op in subgraph.operators:
            if codes[op.opcodeIndex] != _FULLY_CONNECTED or len(op.inputs) < 2 or op.inputs[1] < 0:
                continue
            index = dequantized.get(int(op.inputs[1]), int(op.inputs[1]))
            if index in done:
                continue
            tensor = subgraph.tensors[index]
            data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
            if tensor.type not in _DTYPES or data is None or len(data) == 0 or tensor.sparsity is not None \
                    or len(tensor.shape) != 2:
                continue
            weight = np.frombuffer(bytes(np.asarray(data, dtype=np.uint8)), dtype=_DTYPES[tensor.type])
            weight = weight.reshape([int(d) for d in tensor.shape])
            layout = best_layout(weight)
            if layout.stored_bytes > (1.0 - min_saving) * layout.dense_bytes:
                continue
            done.add(index)
            values, sparsity = encode(weight, layout.block)
            stored = schema.BufferT()
            stored.data = np.frombuffer(values.tobytes(), dtype=np.uint8)
            model.buffers.append(stored)
            source = schema.TensorT()
            source.shape, source.type, source.buffer = list(tensor.shape), tensor.type, len(model.buffers) - 1
            source.name = (tensor.name or b"weight") + b"/block_sparse" if isinstance(tensor.name, bytes) \
                else f"{tensor.name or 'weight'}/block_sparse"
            source.quantization, source.sparsity = tensor.quantization, sparsity
            subgraph.tensors.append(source)
            users[tensor.buffer] -= 1
            if users[tensor.buffer] == 0:
                model.buffers[tensor.buffer].data = None  # the dense copy leaves the file
            empty = schema.BufferT()
            model.buffers.append(empty)
            tensor.buffer = len(model.buffers) - 1
            if densify is None:
                densify = _opcode(model, _DENSIFY)
            unpack = schema.OperatorT()
            unpack.opcodeIndex, unpack.inputs, unpack.outputs = densify, [len(subgraph.tensors) - 1], [index]
            new_ops.append(unpack)
            summary["tensors"] += 1
            summary["weight_bytes_dense"] += layout.dense_bytes
            summary["weight_bytes_stored"] += layout.stored_bytes
            key = f"{layout.block[0]}x{layout.block[1]}"
            summary["layouts"][key] = summary["layouts"].get(key, 0) + 1
        subgraph.operators = new_ops + list(subgraph.operators)  # unpacking runs first (topological order)
    if summary["tensors"] == 0:
        return buffer, summary
    builder = _aligned_builder(flatbuffers, len(buffer) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), summary
