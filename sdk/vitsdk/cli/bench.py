"""`vitsdk bench`: not built yet (issue #6, benchmarking)."""
import typer

from vitsdk.cli.app import app
from vitsdk.errors import UserError


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             help="Benchmarking (not built yet: arrives with issue #6).")
def bench(ctx: typer.Context) -> None:
    raise UserError("`vitsdk bench` is not in this release yet (issue #6, benchmarking)")
