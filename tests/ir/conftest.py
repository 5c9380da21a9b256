"""Fixtures for the IR tests: the shipped cascades folder and a cached loader."""

from __future__ import annotations

from functools import lru_cache

import pytest

from ir_texts import CASCADES


@lru_cache(maxsize=None)
def shipped(name: str):
    """The verified cascade ``einsum_cascades/<name>.yaml`` (loaded once per session)."""
    from accelsim.ir import load_cascade

    return load_cascade(CASCADES / f"{name}.yaml")


@pytest.fixture
def cascade():
    """Loader for shipped cascades by file stem."""
    return shipped
