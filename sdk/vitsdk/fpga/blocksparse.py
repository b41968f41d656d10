"""Block-sparse weight layout of the FPGA matmul engine.

A weight matrix (out, in) is cut into row strips of `rows` output channels and column blocks of
`cols` inputs. Block pruning removes whole columns inside a block, the same number in every block, so
each (strip, block) is stored as its kept column indices plus a dense (kept, rows) tile of values.
The engine has `rows` processing elements: for each kept column it reads one input and all `rows`
PEs multiply-accumulate it in the same cycle; balanced blocks keep every PE equally busy. The layout
is derived from the zeros of the weights themselves, so dense, masked and pruned models all work;
blocks with fewer kept columns than the busiest one are padded with zero weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitsdk.errors import UserError

SUPPORTED_ROWS = (1, 2, 4, 8, 16, 32, 64)  # PEs per strip: a power of two, at most 64
MAX_COLS = 1024


@dataclass(frozen=True)
class BlockShape:
    """Rows x columns of one pruning block (= PEs x the input span one block of columns covers).

    Args:
        rows: output channels per block, the engine's parallel PEs; one of 1, 2, 4, ..., 64.
        cols: input columns per block; a power of two up to 1024.
    """

    rows: int = 16
    cols: int = 16

    def __post_init__(self) -> None:
        if self.rows not in SUPPORTED_ROWS:
            raise UserError(f"block shape {self}: the FPGA engine supports {', '.join(map(str, SUPPORTED_ROWS))} "
                            f"rows per block (one PE per row), got {self.rows}")
        if self.cols < 1 or self.cols > MAX_COLS or self.cols & (self.cols - 1):
            raise UserError(f"block shape {self}: columns per block must be a power of two up to {MAX_COLS}, "
                            f"got {self.cols}")

    def __str__(self) -> str:
        return f"{self.rows}x{self.cols}"

    @classmethod
    def parse(cls, text: "str | tuple[int, int] | list[int] | BlockShape") -> "BlockShape":
        if isinstance(text, BlockShape):
            return text
        if isinstance(text, (tuple, list)):
            if len(text) != 2:
                raise UserError(f"block shape needs two numbers (rows, cols), got {text}")
            return cls(int(text[0]), int(text[1]))
        parts = str(text).lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise UserError(f"block shape '{text}' is not ROWSxCOLS (e.g. 16x16)")
        return cls(int(parts[0]), int(parts[1]))


@dataclass
class BlockSparse:
    """One weight matrix in the engine's layout.

    `index` (strips, blocks, kept) holds global input-column numbers; `values` (strips, blocks,
    kept, rows) the int8 weights, zero where padded.
    """

    out_features: int
    in_features: int
    block: BlockShape
    index: np.ndarray
    values: np.ndarray
    balanced: bool  # every block kept the same number of columns (no padding work)

    @property
    def strips(self) -> int:
        return self.index.shape[0]

    @property
    def col_blocks(self) -> int:
        return self.index.shape[1]

    @property
    def kept(self) -> int:
        return self.index.shape[2]

    @property
    def work_fraction(self) -> float:
        """Engine cycles relative to the dense matrix: kept columns per block / block columns."""
        return self.col_blocks * self.kept / self.in_features

    @property
    def stored_weights(self) -> int:
        return int(self.values.size)

    @property
    def nonzero(self) -> int:
        return int(np.count_nonzero(self.values))

    def dense(self) -> np.ndarray:
        """Back to (out, in): the inverse of `encode`, used by the tests."""
        S, NB, K, R = self.values.shape
        w = np.zeros((S * R, self.in_features), dtype=np.int64)
        for s in range(S):
            for b in range(NB):
                for k in range(K):
                    w[s * R:(s + 1) * R, self.index[s, b, k]] += self.values[s, b, k]
        return w[:self.out_features]


def encode(weight: np.ndarray, block: BlockShape) -> BlockSparse:
    """The block-sparse layout of an integer weight matrix; a column is kept in a block when any of
    the block's rows uses it."""
    out_f, in_f = weight.shape
    R, Cb = block.rows, block.cols
    strips = -(-out_f // R)
    nblocks = -(-in_f // Cb)
    padded = np.zeros((strips * R, nblocks * Cb), dtype=np.int64)
    padded[:out_f, :in_f] = weight
    tiles = padded.reshape(strips, R, nblocks, Cb).transpose(0, 2, 3, 1)  # (S, NB, Cb, R)
    used = np.any(tiles != 0, axis=-1)  # (S, NB, Cb)
    counts = used.sum(axis=-1)
    kept = max(1, int(counts.max()))
    index = np.zeros((strips, nblocks, kept), dtype=np.int64)
    values = np.zeros((strips, nblocks, kept, R), dtype=np.int64)
    for s in range(strips):
        for b in range(nblocks):
            cols = np.flatnonzero(used[s, b])
            first = b * Cb
            index[s, b, :] = first  # padding reads a valid column and multiplies it by zero
            index[s, b, :len(cols)] = first + cols
            values[s, b, :len(cols)] = tiles[s, b, cols]
    index = np.minimum(index, in_f - 1)
    return BlockSparse(out_f, in_f, block, index.astype(np.int64), values,
                       balanced=bool(np.all(counts == counts.flat[0])))
