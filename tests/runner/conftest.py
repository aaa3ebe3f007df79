from __future__ import annotations

import pytest

from tests.tuning.tiny import shared_cache


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    return shared_cache(tmp_path_factory)
