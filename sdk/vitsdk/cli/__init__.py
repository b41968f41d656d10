"""The `vitsdk` command line. Each verb lives in its own module and registers itself on `app`.

User mistakes print one line (`error: ...`) and exit 2, without a traceback.
"""
from __future__ import annotations

import shlex
import subprocess
import sys

import typer
# typer 0.29 vendors click; its usage exceptions live here (typer is pinned in pyproject.toml for this).
from typer._click import exceptions as click_exceptions

from vitsdk.cli.app import app
from vitsdk.cli import info, train, prune, export, bench, report  # noqa: F401,E402  (registers the verbs)
from vitsdk.atomic import USER_OS_ERRORS, describe_os_error
from vitsdk.errors import UserError, tool_failed

__all__ = ["app", "main"]


def fail(message: str, code: int = 2) -> None:
    """One line on stderr, never wrapped, then exit."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="vitsdk", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        sys.stdout.write(exc.format_message() + "\n")
    except click_exceptions.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        fail(f"{exc.format_message()}{hint}")
    except click_exceptions.ClickException as exc:
        fail(exc.format_message())
    except UserError as exc:
        fail(str(exc))
    except OSError as exc:
        if exc.errno not in USER_OS_ERRORS:
            raise
        fail(describe_os_error(exc))  # permission denied, disk full, a file where a folder belongs, ...
    except subprocess.CalledProcessError as exc:
        fail(str(tool_failed(shlex.join(map(str, exc.cmd)) if isinstance(exc.cmd, list) else str(exc.cmd),
                             exc.returncode, exc.stderr if isinstance(exc.stderr, str) else "")))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("interrupted\n")
        sys.exit(130)
