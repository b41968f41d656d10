"""User-facing errors: one line that says what is wrong and how to fix it (the CLI exits with 2)."""
from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input (flag, file, name). The CLI prints it on one line and exits 2."""


class DoesNotFit(UserError):
    """A model that does not fit the engine or the board it is exported for (the message gives the numbers)."""


def suggest(name: str, options: Iterable[str]) -> str:
    """' (did you mean X?)' for the nearest option, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, name: str, options: Iterable[str]) -> UserError:
    """An error for an unknown name that lists the valid ones and suggests the nearest."""
    options = sorted(options)
    return UserError(f"unknown {kind} '{name}'{suggest(name, options)}; choose from: {', '.join(options)}")


def check_choice(kind: str, value: object, options: Iterable[str]) -> None:
    """Refuses a `value` that is not one of `options` (a config field or flag), in their order, suggesting the
    nearest: "direction 'colums' is not one of columns, rows (did you mean 'columns'?)"."""
    options = tuple(options)
    if value not in options:
        raise UserError(f"{kind} '{value}' is not one of {', '.join(options)}{suggest(str(value), options)}")


def tool_failed(what: str, returncode: int, output: str) -> UserError:
    """A failed external tool (compiler, simulator) as one line: its exit code, its last output line and
    the file its whole output was saved to (in the temporary folder: the tool's own folder may be a staging
    folder that is about to be removed)."""
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    saved = ""
    try:
        fd, log = tempfile.mkstemp(prefix="vitsdk-tool-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(output or "")
        saved = f"; full output in {log}"
    except OSError:
        pass
    last = f": {lines[-1][:300]}" if lines else ""
    return UserError(f"{what} failed with exit code {returncode}{last}{saved}")
