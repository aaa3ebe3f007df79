"""Fixtures shared by the dataset tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def count_calls(monkeypatch):
    """``count_calls(module, name)``: a list that grows by one per call of ``module.name`` (which still runs)."""
    def patch(module, name: str) -> list:
        calls: list = []
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or original(*a, **k))
        return calls
    return patch
