"""Validation hooks for file kinds owned by later layers (experiments, sweeps)."""

from __future__ import annotations

from pathlib import Path

from runner.errors import NotSupportedError


def validate_other(kind: str, file: Path) -> None:
    raise NotSupportedError(f"validating {kind} files", source=file)
