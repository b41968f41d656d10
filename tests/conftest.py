"""Shared fixtures. Tests run the real code on small inputs."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def run_cli():
    """Runs `vitsdk ARGS...` in a subprocess, as a user would; returns the CompletedProcess."""
    def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vitsdk", *map(str, args)], capture_output=True, text=True,
                              cwd=cwd, env=env, timeout=600)
    return run
