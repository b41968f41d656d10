"""`vitsdk prune`: not built yet (issue #3, block pruning)."""
import typer

from vitsdk.cli.app import app
from vitsdk.errors import UserError


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             help="Block pruning (not built yet: arrives with issue #3).")
def prune(ctx: typer.Context) -> None:
    raise UserError("`vitsdk prune` is not in this release yet (issue #3, block pruning)")
