"""The weight image: a linear's weights as three engine buffers (int8 values `wmem`, 16-bit kept column indices
`xmem`, per-channel constants `kmem`) and as its record of the image the engine streams from DDR (rtl/ddr.hex),
and the conversions between the two (`weight_memories`, `join_image`, `split_image`)."""
from __future__ import annotations

import numpy as np

from vitsdk.fpga.axi import BUFFERS, STREAMED
from vitsdk.fpga.engine import DDR_BEAT_BYTES

DDR_ALIGN = max(DDR_BEAT_BYTES)  # bytes: each section of a linear's record starts and ends on such a boundary of the
# weight image, so every port width (EngineConfig.ddr_beat_bytes) reads whole beats of one section
# A linear's weights, in three buffers of the engine (each element's bytes: vitsdk.fpga.axi.BUFFERS' bits / 8) and in
# its record of the weight image, in this order (buffer, the record's section): int8 values (wmem), 16-bit kept
# column indices (xmem), per-channel constants (kmem, two 64-bit words per output channel: bias int32 in bits
# 31..0 and multiplier int32 in bits 63..32 of the first, shift in the second: 16 bytes, one 16-byte beat per
# channel; three words (24 bytes) held the same before, and a 9-byte packing would split entries across beats).
WEIGHT_BUFFERS = dict(zip(STREAMED, ("value_bytes", "index_bytes", "constant_bytes")))  # buffer: its layers' key


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def index_run(col_blocks: int, kept: int) -> int:
    """Entries of one block strip's kept column indices in xmem: its col_blocks x kept, padded to whole DDR_ALIGN
    blocks, so that no beat of the weight stream holds two strips' indices (the strips are read side by side: a
    buffer banked by strip takes each beat in one bank)."""
    per_block = DDR_ALIGN // (BUFFERS["xmem"][1] // 8)
    return _ceil(col_blocks * kept, per_block) * per_block


def section_bytes(elements: int, buffer: str) -> int:
    """Bytes of a record's section of `elements` elements of `buffer` (wmem, xmem, kmem), padded to DDR_ALIGN."""
    return _ceil(elements * (BUFFERS[buffer][1] // 8), DDR_ALIGN) * DDR_ALIGN


def weight_memories(memories: dict[str, np.ndarray], layers: list[dict], streamed: bool) -> dict[str, np.ndarray]:
    """`memories` with the linears' weights where the engine finds them: "ddr" (rtl/ddr.hex, the weight image the
    engine streams from) when streamed, else wmem, xmem and kmem (loaded on chip). The same sections either way:
    the image is each linear's values, indices and constants in turn, the buffers each kind's sections in turn."""
    rest = {k: v for k, v in memories.items() if k != "ddr" and k not in WEIGHT_BUFFERS}
    if "ddr" in memories:
        buffers = split_image(memories["ddr"], layers)
    elif "wmem" in memories:
        buffers = {name: memories[name] for name in WEIGHT_BUFFERS}
    else:
        return rest
    return {**rest, "ddr": join_image(buffers, layers)} if streamed else {**rest, **buffers}


def join_image(buffers: dict[str, np.ndarray], layers: list[dict]) -> np.ndarray:
    """The weight image (uint8) from the on-chip buffers' elements: per linear its sections, little-endian."""
    parts, at = [], dict.fromkeys(WEIGHT_BUFFERS, 0)
    for layer in layers:
        for name, key in WEIGHT_BUFFERS.items():
            size = BUFFERS[name][1] // 8
            count = layer[key] // size
            chunk = np.asarray(buffers[name][at[name]:at[name] + count], dtype=np.int64)
            parts.append(chunk.astype(f"<u{size}").view(np.uint8))
            at[name] += count
    return np.concatenate(parts)


def split_image(image: np.ndarray, layers: list[dict]) -> dict[str, np.ndarray]:
    """wmem, xmem, kmem (int64 elements, signed like their hex files) from the weight image's bytes."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    parts = {name: [] for name in WEIGHT_BUFFERS}
    for layer in layers:
        at = layer["image_offset"]
        for name, key in WEIGHT_BUFFERS.items():
            size = BUFFERS[name][1] // 8
            parts[name].append(image[at:at + layer[key]].view(f"<i{size}").astype(np.int64))
            at += layer[key]
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}
