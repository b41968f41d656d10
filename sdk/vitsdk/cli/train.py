"""`vitsdk train`: not built yet (issue #5, Tri-Level sparse training)."""
import typer

from vitsdk.cli.app import app
from vitsdk.errors import UserError


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             help="Tri-Level sparse training (not built yet: arrives with issue #5).")
def train(ctx: typer.Context) -> None:
    raise UserError("`vitsdk train` is not in this release yet (issue #5, Tri-Level sparse training)")
