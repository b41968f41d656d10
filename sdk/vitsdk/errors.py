"""User-facing errors: one line that says what is wrong and how to fix it (the CLI exits with 2)."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input (flag, file, name). The CLI prints it on one line and exits 2."""


def suggest(name: str, options: Iterable[str]) -> str:
    """' (did you mean X?)' for the nearest option, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown(kind: str, name: str, options: Iterable[str]) -> UserError:
    """An error for an unknown name that lists the valid ones and suggests the nearest."""
    options = sorted(options)
    return UserError(f"unknown {kind} '{name}'{suggest(name, options)}; choose from: {', '.join(options)}")
