"""`vitsdk report`: not built yet (issue #9, the energy report)."""
import typer

from vitsdk.cli.app import app
from vitsdk.errors import UserError


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             help="The energy report (not built yet: arrives with issue #9).")
def report(ctx: typer.Context) -> None:
    raise UserError("`vitsdk report` is not in this release yet (issue #9, the energy report)")
