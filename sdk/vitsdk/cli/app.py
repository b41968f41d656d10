"""The typer application every verb module registers on."""
import typer

app = typer.Typer(
    name="vitsdk",
    help="Train Vision Transformers with Tri-Level sparsity, block-prune them, export the same weights to "
         "phones (ExecuTorch, LiteRT, Core ML) and FPGAs, and measure latency and energy per inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
