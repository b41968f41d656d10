"""`vitsdk export`: not built yet (issue #4, the exporters)."""
import typer

from vitsdk.cli.app import app
from vitsdk.errors import UserError


@app.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
             help="The exporters (not built yet: arrives with issue #4).")
def export(ctx: typer.Context) -> None:
    raise UserError("`vitsdk export` is not in this release yet (issue #4, the exporters)")
