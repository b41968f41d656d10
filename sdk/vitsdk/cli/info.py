"""`vitsdk info`: the environment, the model list, or one model's accounting (params, MACs, tokens)."""
from __future__ import annotations

import importlib.metadata
import platform
from typing import Optional

import typer
from rich.table import Table

from vitsdk.cli.app import app
from vitsdk.cli.console import console, print_json

RUNTIME_PACKAGES = ("torch", "executorch", "litert-torch", "ai-edge-litert", "coremltools", "numpy")


def environment() -> dict:
    from vitsdk import __version__
    from vitsdk.data.fashion_mnist import find_fashion_mnist

    versions = {}
    for name in RUNTIME_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    data = find_fashion_mnist(required=False)
    return {"vitsdk": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "packages": versions,
            "fashion_mnist": str(data) if data else None}


@app.command()
def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registry name or checkpoint to account for."),
    keep_rate: Optional[float] = typer.Option(None, help="Token keep fraction at each pruning block, in (0, 1]."),
    attn_keep: Optional[float] = typer.Option(None, help="Attention keys kept per row, in (0, 1]."),
    attn_mode: Optional[str] = typer.Option(None, help="Attention sparsity as 'mask' (no MACs saved) or 'gather'."),
    fuse_token: Optional[bool] = typer.Option(None, "--fuse-token/--no-fuse-token", help="EViT fused token."),
    img_size: Optional[int] = typer.Option(None, help="Input size in pixels (pos_embed is resampled)."),
    list_: bool = typer.Option(False, "--list", help="List the registered models."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show the environment, the model registry (--list), or a model's params, MACs and tokens per block."""
    from vitsdk.models import count, get_config, list_models
    from vitsdk.resolve import resolve

    if list_:
        rows = [get_config(name) for name in list_models()]
        if as_json:
            print_json([c.to_dict() for c in rows])
            return
        table = Table(title="registered models")
        for col in ("name", "img", "patch", "chans", "dim", "depth", "heads", "classes", "prune_at"):
            table.add_column(col, justify="right" if col != "name" else "left")
        for c in rows:
            table.add_row(c.name, str(c.img_size), str(c.patch_size), str(c.in_chans), str(c.embed_dim),
                          str(c.depth), str(c.num_heads), str(c.num_classes), ",".join(map(str, c.prune_at)))
        console.print(table)
        return
    if model is None:
        env = environment()
        if as_json:
            print_json(env)
            return
        table = Table(title="vitsdk environment", show_header=False)
        for key in ("vitsdk", "python", "platform", "machine"):
            table.add_row(key, env[key])
        for name, version in env["packages"].items():
            table.add_row(name, version or "[red]not installed[/red]")
        table.add_row("fashion-mnist", env["fashion_mnist"] or "[yellow]not found (run `make setup`)[/yellow]")
        console.print(table)
        return
    overrides = {key: value for key, value in dict(keep_rate=keep_rate, attn_keep=attn_keep, attn_mode=attn_mode,
                                                     fuse_token=fuse_token, img_size=img_size).items()
                 if value is not None}
    acc = count(resolve(model, **overrides)[0])
    if as_json:
        print_json(acc.to_dict())
        return
    table = Table(title=f"{acc.model} @ {acc.img_size}px, keep_rate {acc.keep_rate}, attn_keep {acc.attn_keep} "
                        f"({acc.attn_mode}){', fused token' if acc.fuse_token else ''}")
    for col in ("block", "tokens (attn)", "tokens (mlp)", "keys/row", "qkv", "QK^T+AV", "proj", "mlp", "MMACs"):
        table.add_column(col, justify="right")
    for b in acc.blocks:
        mark = "*" if b.prunes_tokens else ""
        table.add_row(f"{b.index}{mark}", str(b.tokens_attn), str(b.tokens_mlp), f"{b.keys_per_row:.1f}",
                      f"{b.macs_qkv / 1e6:.1f}", f"{b.macs_attn / 1e6:.1f}", f"{b.macs_proj / 1e6:.1f}",
                      f"{b.macs_mlp / 1e6:.1f}", f"{b.macs / 1e6:.1f}")
    console.print(table)
    wb = acc.weight_bytes
    console.print(f"params {acc.params / 1e6:.3f} M | MACs {acc.macs / 1e9:.4f} G | weights fp32 "
                  f"{wb['fp32'] / 2**20:.2f} MiB, fp16 {wb['fp16'] / 2**20:.2f} MiB, int8 {wb['int8'] / 2**20:.2f} MiB")
    if acc.attn_keep < 1.0:
        saved = acc.attn_macs_saved
        console.print(f"attention sparsity saves {saved / 1e6:.1f} M MACs" if saved else
                      "attention sparsity in 'mask' mode saves no MACs (masked scores are still computed); "
                      "use --attn-mode gather to compute only the kept keys")
    console.print(f"[dim]* token-pruning block. MACs: {acc.convention}[/dim]")
