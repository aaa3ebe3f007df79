"""Registries: lookup, aliases, collisions, unknown names listing the known ones."""

from __future__ import annotations

import pytest

from bench.errors import RegistryError
from bench.registry import Registry


def test_register_get_alias_and_unknown():
    reg: Registry = Registry("widget", "bench.config")
    reg._discovered = True  # no package scan for this synthetic kind

    @reg.register("alpha", aliases=("a",))
    def alpha():
        return 1

    assert reg.get("alpha") is alpha and reg.get("a") is alpha
    assert "alpha" in reg and reg.names() == ["alpha"]
    with pytest.raises(RegistryError) as err:
        reg.get("beta")
    assert "unknown widget 'beta'" in str(err.value) and "alpha" in str(err.value)
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("alpha")(lambda: 2)


def test_base_class_is_enforced():
    class Base:
        pass

    reg: Registry = Registry("thing", "bench.config", base=Base)
    reg._discovered = True
    with pytest.raises(TypeError):
        reg.register("x")(int)


def test_project_registries_discover_their_plugins():
    from bench.tasks import TASK_KINDS

    assert "retrieval" in TASK_KINDS.names()
