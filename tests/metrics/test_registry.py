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
    "eeg_top1": (True, None, 1.0), "image_top1": (True, None, 1.0), "top1": (True, None, 1.0),
    "kway/50/top1": (True, 1 / 50, 1.0),
}

# Every metric name the task kinds write into records (decorations included): (higher_is_better, percent).
REPORTED = {
    "top1": (True, True), "top5": (True, True), "kway/2/top1": (True, True), "kway/100/top5": (True, True),
    "kway/50/top1/sampled": (True, True), "last_epoch/top1": (True, True), "last_epoch/kway/4/top1": (True, True),
    "eeg_top1": (True, True), "image_top1": (True, True), "last_epoch/eeg_top1": (True, True),
    "eeg_top1/sub-02": (True, True), "last_epoch/eeg_top1/sub-02": (True, True),
    "val_loss": (False, False), "train_loss": (False, False), "val_top1": (True, True),
    "control/chance": (False, True), "control/drift_probe_top1": (False, True), "control/design_p": (True, False),
    "control/confound_flag": (False, False),
    "pixcorr": (True, False), "ssim": (True, False), "effnet": (False, False), "swav": (False, False),
    "last_epoch/swav": (False, False), "inception_score": (True, False), "inception_score_std": (False, False),
    "nss": (True, False), "s_auc": (True, False), "baseline/centre/s_auc": (True, False),
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


def test_every_reported_metric_family_resolves_with_direction_and_unit():
    from bench.metrics import metric_info

    for name, (higher, percent) in REPORTED.items():
        info = metric_info(name)
        assert info.name == name and (info.higher_is_better, info.percent) == (higher, percent), name
    assert metric_info("last_epoch/kway/50/top1").chance == 1 / 50
    with pytest.raises(RegistryError, match="last_epoch/<m>"):
        metric_info("last_epoch/no-such-metric")


def test_leaderboard_reads_direction_and_percent_from_the_registry(monkeypatch):
    """No substring rule: a registered higher-is-better metric whose name contains 'loss' ranks high."""
    from bench.leaderboard.data import higher_is_better, is_fraction

    assert not higher_is_better("effnet") and not higher_is_better("last_epoch/swav")
    assert higher_is_better("top1") and is_fraction("kway/50/top1") and not is_fraction("ssim")
    assert is_fraction("eeg_top1") and is_fraction("last_epoch/eeg_top1")
    METRICS.discover()
    monkeypatch.setitem(METRICS._items, "lossless_top1",
                        MetricInfo(name="lossless_top1", fn=None, higher_is_better=True, percent=True))
    assert higher_is_better("lossless_top1") and is_fraction("lossless_top1")


def test_headline_metric_is_checked_at_load(tmp_path):
    from bench.config import load_task
    from bench.errors import ConfigError

    bad = tmp_path / "t.yaml"
    bad.write_text("extends: things-eeg2-retrieval-200-demo\nname: t\nheadline_metric: top_1\n")
    with pytest.raises(ConfigError) as err:
        load_task(bad)
    assert err.value.field == "headline_metric" and "top1" in str(err.value)


def test_metric_docstring_examples_run():
    """The examples in every metric module's docstrings are doctests (torchmetrics style)."""
    import doctest
    import importlib
    import pkgutil

    import bench.metrics

    attempted = 0
    for info in pkgutil.iter_modules(bench.metrics.__path__, prefix="bench.metrics."):
        module = importlib.import_module(info.name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, info.name
        attempted += result.attempted
    result = doctest.testmod(bench.metrics)
    assert result.failed == 0
    assert attempted + result.attempted >= 10
