"""Shared terminal output: rich tables and progress go to stdout, JSON output stays clean."""
import json
import sys
from typing import Any

from rich.console import Console

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
