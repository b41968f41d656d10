"""Writes the HLS C++ project of a quantised ViT (its C simulation is `vitsdk.fpga.csim`).

Project layout (what `export_fpga` puts in a bundle's `fpga/` folder):
    firmware/vit_kernels.h   the kernels (copied from fpga/hls/)
    firmware/parameters.h    dimensions, scales, block-sparse weights (kept indices + values)
    firmware/vit_top.h/.cpp  the accelerator top function: the layer sequence of this model
    tb/tb_vit.cpp            C-simulation testbench (copied from fpga/hls/)
    tb/inputs.bin            int8 patches of the reference images
    tb/expected.bin          int32 logits of the numpy integer reference for them
    weights.bin/.json        the same arrays as one binary blob plus its layout (for loaders)
    build_prj.tcl            Vitis HLS: C sim, synthesis, co-sim, IP export (for people with the tools)
    Makefile                 `make csim` with g++
    project.json             model, quantisation, block shape, layers, scales, overflow report
    board/                   the PYNQ runner (copied from fpga/board/; it needs vitsdk without torch)
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitsdk.atomic import atomic_path
from vitsdk.errors import UserError
from vitsdk.fpga.blocksparse import BlockShape, BlockSparse, encode
from vitsdk.fpga.csim import SOURCES_KEY, source_record
from vitsdk.fpga.project import PROJECT_FORMAT, write_io
from vitsdk.fpga.quant import QLinear, QNorm, QuantViT
from vitsdk.hashing import bytes_sha256
from vitsdk.resources import fpga_path

TOP = "vit_top"


def hls_source_dir() -> Path:
    """fpga/hls/ (the HLS templates and testbench), package data of vitsdk."""
    return fpga_path("hls")


def c_name(layer: str) -> str:
    return layer.replace("blocks.", "b").replace(".attn.", "_").replace(".mlp.", "_").replace(".", "_")


@dataclass
class _Array:
    name: str
    ctype: str
    dtype: str
    values: np.ndarray


class _Params:
    """Collects the constant arrays, written both as C arrays and as one binary blob."""

    def __init__(self) -> None:
        self.arrays: list[_Array] = []

    def add(self, name: str, ctype: str, dtype: str, values: np.ndarray) -> str:
        values = np.asarray(values).reshape(-1)
        info = np.iinfo(dtype)
        if values.size and (values.min() < info.min or values.max() > info.max):
            raise UserError(f"fixed-point overflow: {name} does not fit {dtype}")
        self.arrays.append(_Array(name, ctype, dtype, values.astype(dtype)))
        return name

    def header(self) -> str:
        out = []
        for a in self.arrays:
            body = ",".join(map(str, a.values.tolist()))
            out.append(f"static const {a.ctype} {a.name}[{a.values.size}] = {{{body}}};")
        return "\n".join(out) + "\n"

    def blob(self) -> tuple[bytes, list[dict]]:
        layout, chunks, offset = [], [], 0
        for a in self.arrays:
            data = a.values.astype(np.dtype(a.dtype).newbyteorder("<")).tobytes()
            pad = (-offset) % 8
            chunks.append(b"\0" * pad)
            offset += pad
            layout.append({"name": a.name, "dtype": a.dtype, "count": int(a.values.size), "offset": offset,
                           "bytes": len(data)})
            chunks.append(data)
            offset += len(data)
        return b"".join(chunks), layout


def _linear(params: _Params, ql: QLinear, block: BlockShape, to: str) -> tuple[str, BlockSparse]:
    """Registers a layer's arrays; returns the C call template and the encoding."""
    bs = encode(ql.weight, block)
    n = c_name(ql.name)
    params.add(f"{n}_index", "uint16_t", "uint16", bs.index)
    params.add(f"{n}_values", "vit::act_t", "int8", bs.values)
    params.add(f"{n}_bias", "vit::acc_t", "int32", ql.bias)
    if to != "acc":
        params.add(f"{n}_m", "int32_t", "int32", ql.m)
        params.add(f"{n}_shift", "int8_t", "int8", ql.shift)
    call = (f"vit::bs_linear<{bs.in_features}, {bs.out_features}, {block.rows}, {bs.col_blocks}, {bs.kept}>"
            f"({{tokens}}, {{x}}, acc, {n}_index, {n}_values, {n}_bias);")
    return call, bs


def _norm(params: _Params, qn: QNorm) -> str:
    n = c_name(qn.name)
    params.add(f"{n}_gain", "vit::wide_t", "int64", qn.gain)
    params.add(f"{n}_offset", "vit::wide_t", "int64", qn.offset)
    return n


def render(qv: QuantViT, block: BlockShape) -> tuple[dict[str, str], _Params, list[dict]]:
    """The generated sources of `qv`: {relative path: text}, the parameter arrays, a per-layer summary."""
    c = qv.config
    q = qv.quant
    C, D = c.embed_dim, c.head_dim
    T0 = 1 + c.num_patches
    P = c.in_chans * c.patch_size**2
    params = _Params()
    layers: list[dict] = []
    widths = [C, P, qv.head.weight.shape[0]]
    for b in qv.blocks:
        widths += [b.qkv.weight.shape[0], b.fc1.weight.shape[0]]
    MAXW = max(widths)

    def summary(ql: QLinear, bs: BlockSparse, tokens: int) -> None:
        layers.append({"name": ql.name, "out": bs.out_features, "in": bs.in_features, "kept_per_block": bs.kept,
                       "col_blocks": bs.col_blocks, "strips": bs.strips, "balanced": bs.balanced,
                       "work_fraction": round(bs.work_fraction, 6), "stored_weights": bs.stored_weights,
                       "nonzero_weights": bs.nonzero, "tokens": tokens,
                       "cycles": tokens * bs.strips * bs.col_blocks * bs.kept})

    params.add("exp_lut", "int32_t", "int32", qv.exp_lut)
    params.add("embed", "vit::res_t", "int32", qv.embed)
    body: list[str] = []
    call, bs = _linear(params, qv.patch, block, "res")
    summary(qv.patch, bs, c.num_patches)
    body += ["    // patch embedding + CLS + position embedding into the int16 residual stream",
             "    " + call.format(tokens="N_PATCH", x="patches"),
             f"    vit::embed_tokens<{C}, RES_BITS>(N_PATCH, acc, res, patch_embed_m, patch_embed_shift, embed);",
             "    int tokens = N_TOKENS;"]
    tokens = T0
    for b in qv.blocks:
        H = b.qkv.weight.shape[0] // (3 * D)
        hidden = b.fc1.weight.shape[0]
        i = b.index
        n1, n2 = _norm(params, b.ln1), _norm(params, b.ln2)
        qkv_call, bs = _linear(params, b.qkv, block, "act")
        summary(b.qkv, bs, tokens)
        proj_call, bs = _linear(params, b.proj, block, "res")
        summary(b.proj, bs, tokens)
        body += [f"    // block {i}: attention ({H} heads)",
                 f"    vit::layernorm<{C}>(tokens, res, a0, {n1}_gain, {n1}_offset, {b.ln1.shift}, LN_FRAC_BITS, "
                 f"{b.ln1.eps_q});",
                 "    " + qkv_call.format(tokens="tokens", x="a0"),
                 f"    vit::requant_act<{3 * H * D}>(tokens, acc, a1, b{i}_qkv_m, b{i}_qkv_shift);",
                 f"    vit::attention<N_TOKENS, {H}, {D}, PROB_BITS>(tokens, a1, a0, {b.score_m}LL, {b.score_shift}, "
                 f"{b.av_m}LL, {b.av_shift}, exp_lut, cls_score);",
                 "    " + proj_call.format(tokens="tokens", x="a0"),
                 f"    vit::add_residual<{C}, RES_BITS>(tokens, acc, res, b{i}_proj_m, b{i}_proj_shift);"]
        if b.keep is not None:
            body.append(f"    tokens = vit::select_tokens<N_TOKENS, {C}>(tokens, {b.keep}, cls_score, res, "
                        f"{'true' if b.fuse else 'false'});  // token selection: keep {b.keep} patches"
                        + (" + the fused token" if b.fuse else ""))
            tokens = b.tokens_after(tokens)
        fc1_call, bs = _linear(params, b.fc1, block, "act")
        summary(b.fc1, bs, tokens)
        fc2_call, bs = _linear(params, b.fc2, block, "res")
        summary(b.fc2, bs, tokens)
        params.add(f"b{i}_gelu", "vit::act_t", "int8", b.gelu)
        body += [f"    // block {i}: MLP ({hidden} hidden)",
                 f"    vit::layernorm<{C}>(tokens, res, a0, {n2}_gain, {n2}_offset, {b.ln2.shift}, LN_FRAC_BITS, "
                 f"{b.ln2.eps_q});",
                 "    " + fc1_call.format(tokens="tokens", x="a0"),
                 f"    vit::requant_act<{hidden}>(tokens, acc, a1, b{i}_fc1_m, b{i}_fc1_shift);",
                 f"    vit::gelu<{hidden}>(tokens, a1, b{i}_gelu);",
                 "    " + fc2_call.format(tokens="tokens", x="a1"),
                 f"    vit::add_residual<{C}, RES_BITS>(tokens, acc, res, b{i}_fc2_m, b{i}_fc2_shift);"]
    nf = _norm(params, qv.norm)
    head_call, bs = _linear(params, qv.head, block, "acc")
    summary(qv.head, bs, 1)
    body += ["    // final LayerNorm and classifier on the CLS token",
             f"    vit::layernorm<{C}>(1, res, a0, {nf}_gain, {nf}_offset, {qv.norm.shift}, LN_FRAC_BITS, "
             f"{qv.norm.eps_q});",
             "    " + head_call.format(tokens="1", x="a0"),
             "    for (int o = 0; o < NUM_CLASSES; ++o) logits[o] = acc[o];"]

    config_h = f"""// Generated by vitsdk.fpga: dimensions and fixed-point settings of {c.name}.
#ifndef VITSDK_MODEL_CONFIG_H
#define VITSDK_MODEL_CONFIG_H
#define N_PATCH {c.num_patches}
#define PATCH_DIM {P}
#define N_TOKENS {T0}
#define EMBED_DIM {C}
#define NUM_CLASSES {qv.head.weight.shape[0]}
#define MAX_WIDTH {MAXW}
#define RES_BITS {q.residual_bits}
#define PROB_BITS {q.prob_bits}
#define LN_FRAC_BITS {q.ln_frac_bits}
#define BLOCK_ROWS {block.rows}
#define BLOCK_COLS {block.cols}
#endif
"""
    top_h = f"""// Generated by vitsdk.fpga: the accelerator's top function.
#ifndef VITSDK_VIT_TOP_H
#define VITSDK_VIT_TOP_H
#include "vit_kernels.h"
#include "model_config.h"
// patches: N_PATCH x PATCH_DIM int8 (row-major, (c, kh, kw) order); logits: NUM_CLASSES int32
// (real logit = logits[o] * logit_scale[o] from project.json).
void {TOP}(const vit::act_t patches[N_PATCH * PATCH_DIM], vit::acc_t logits[NUM_CLASSES]);
#endif
"""
    top_cpp = f"""// Generated by vitsdk.fpga from {c.name}: block shape {block}, {len(qv.blocks)} blocks.
#include "vit_top.h"
#include "parameters.h"

void {TOP}(const vit::act_t patches[N_PATCH * PATCH_DIM], vit::acc_t logits[NUM_CLASSES]) {{
#pragma HLS INTERFACE m_axi port = patches offset = slave bundle = gmem0 depth = {c.num_patches * P}
#pragma HLS INTERFACE m_axi port = logits offset = slave bundle = gmem1 depth = {qv.head.weight.shape[0]}
#pragma HLS INTERFACE s_axilite port = return
    static vit::res_t res[N_TOKENS * EMBED_DIM];
    static vit::act_t a0[N_TOKENS * MAX_WIDTH];
    static vit::act_t a1[N_TOKENS * MAX_WIDTH];
    static vit::acc_t acc[N_TOKENS * MAX_WIDTH];
    static vit::wide_t cls_score[N_TOKENS];
""" + "\n".join(body) + "\n}\n"
    parameters_h = ("// Generated by vitsdk.fpga: quantised parameters (block-sparse weights as kept column "
                    "indices + values).\n#ifndef VITSDK_PARAMETERS_H\n#define VITSDK_PARAMETERS_H\n"
                    "#include \"vit_kernels.h\"\n" + params.header() + "#endif\n")
    files = {"firmware/model_config.h": config_h, "firmware/vit_top.h": top_h, "firmware/vit_top.cpp": top_cpp,
             "firmware/parameters.h": parameters_h}
    return files, params, layers


def _tcl(part: str, clock_ns: float, name: str) -> str:
    template = (hls_source_dir() / "build_prj.tcl.in").read_text()
    return (template.replace("@PROJECT@", name).replace("@PART@", part).replace("@CLOCK_NS@", f"{clock_ns:g}")
            .replace("@TOP@", TOP))


def write_project(qv: QuantViT, out_dir: str | os.PathLike, block: BlockShape, patches: np.ndarray,
                  expected: np.ndarray, metadata: dict, part: str = "xczu9eg-ffvb1156-2-e",
                  clock_ns: float = 3.33, stage=None) -> dict:
    """Writes the whole project atomically (a temp folder renamed into place). Returns project.json.
    `stage(folder) -> dict` writes more into the staged folder (the RTL design) and adds to project.json."""
    src = hls_source_dir()
    files, params, layers = render(qv, block)
    blob, layout = params.blob()
    project = {"format": PROJECT_FORMAT, "top": TOP, "block_shape": str(block),
               "tokens_per_block": qv.tokens, "layers": layers,
               "input_scale": qv.input_scale, "residual_scale": qv.residual_scale,
               "logit_scale": [float(s) for s in qv.head.acc_scale], "quant": qv.quant.to_dict(),
               "model": qv.config.to_dict(), "weights_sha256": bytes_sha256(blob),
               "weights_bytes": len(blob), "hls_part": part, "hls_clock_ns": clock_ns,
               "reference": {"inputs": "tb/inputs.bin", "expected": "tb/expected.bin", "count": int(len(patches))},
               **metadata}
    with atomic_path(out_dir, is_dir=True) as tmp:
        (tmp / "firmware").mkdir()
        (tmp / "tb").mkdir()
        shutil.copy(src / "vit_kernels.h", tmp / "firmware" / "vit_kernels.h")
        shutil.copy(src / "tb_vit.cpp", tmp / "tb" / "tb_vit.cpp")
        # The board runs the shipped runner with vitsdk installed without torch (run_board.py says how).
        (tmp / "board").mkdir()
        shutil.copy(fpga_path("board", "run_board.py"), tmp / "board" / "run_board.py")
        for rel, text in files.items():
            (tmp / rel).write_text(text)
        (tmp / "weights.bin").write_bytes(blob)
        (tmp / "weights.json").write_text(json.dumps({"format": "vitsdk.fpga_weights/1", "arrays": layout},
                                                     indent=1) + "\n")
        write_io(tmp / "tb" / "inputs.bin", patches, "int8")
        write_io(tmp / "tb" / "expected.bin", expected, "int32")
        (tmp / "build_prj.tcl").write_text(_tcl(part, clock_ns, f"vitsdk_{qv.config.name}"))
        (tmp / "Makefile").write_text((src / "Makefile.in").read_text())
        project[SOURCES_KEY] = source_record(tmp)
        if stage is not None:
            project.update(stage(tmp))
        (tmp / "project.json").write_text(json.dumps(project, indent=1) + "\n")
        tmp.chmod(0o755)
    return project
