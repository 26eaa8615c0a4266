"""Shared test helpers: where the real, read-only data lives (see ../shared/data/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Mark tests that read the real data; they are skipped where the shared folder is absent.
shared_data = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data not found at {SHARED}")
