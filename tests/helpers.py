"""Helpers that several test modules share. Tests import from here (or conftest), never from
another test module: a test file is free to change without breaking its neighbours."""

from __future__ import annotations

import subprocess


def assert_bad_input(result: subprocess.CompletedProcess, *named) -> None:
    """The exit-code contract for bad input: 2, one message naming each of `named`, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for text in named:
        assert str(text) in result.stderr, result.stderr
