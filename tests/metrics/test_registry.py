"""The metric registry: names, display metadata, and the generic register API other modules use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.errors import RegistryError
from bench.metrics import METRICS, MetricInfo, MetricRegistry

EXPECTED = {
    # name: (higher_is_better, chance, ceiling)
    "pixcorr": (True, 0.0, 1.0), "ssim": (True, None, 1.0),
    "alexnet2": (True, 0.5, 1.0), "alexnet5": (True, 0.5, 1.0), "inception": (True, 0.5, 1.0),
    "clip": (True, 0.5, 1.0), "effnet": (False, 1.0, 0.0), "swav": (False, 1.0, 0.0),
    "nway_top1": (True, 1 / 50, 1.0), "inception_score": (True, None, 1000.0),
    "nss": (True, 0.0, None), "cc": (True, 0.0, 1.0), "s_auc": (True, 0.5, 1.0), "s_auc_exact": (True, 0.5, 1.0),
}


def test_every_named_metric_is_registered_with_its_direction_and_chance():
    for name, (higher, chance, ceiling) in EXPECTED.items():
        info = METRICS.get(name)
        assert isinstance(info, MetricInfo) and info.name == name
        assert (info.higher_is_better, info.chance, info.ceiling) == (higher, chance, ceiling), name
        assert info.description and info.recipe and info.inputs and callable(info.fn)


def test_unknown_metric_lists_known_names():
    with pytest.raises(RegistryError, match="pixcorr"):
        METRICS.get("fid")


def test_register_function_or_metricinfo():
    reg = MetricRegistry("metric", "bench.metrics")
    reg._discovered = True                   # a private registry: no package scan

    @reg.register("top1", higher_is_better=True, chance=1 / 200, ceiling=1.0, recipe="ATM top-1")
    def top1(scores):
        """Top-1 retrieval accuracy."""
        return 0.5

    assert top1([1]) == 0.5                  # the decorator returns the function unchanged
    info = reg.get("top1")
    assert info.fn is top1 and info.description == "Top-1 retrieval accuracy." and info(None) == 0.5
    reg.register("k2")(MetricInfo(name="other", fn=top1, chance=0.5))
    assert reg.get("k2").name == "k2" and reg.get("k2").chance == 0.5
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("top1")(lambda x: x)
    with pytest.raises(TypeError):
        reg.register("bad")(42)


def test_discovery_does_not_import_torch():
    code = ("import sys; from bench.metrics import METRICS; METRICS.names(); "
            "print('torch' in sys.modules, 'skimage' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
