"""Seams a plug-in author can use (issue #12.5): lazy entries, entry points, torch-free discovery.

An out-of-tree plug-in package is "installed" the cheap, shared-venv-safe way: its folder and a
``*.dist-info`` with ``entry_points.txt`` are put on the path of a subprocess (what ``pip install``
leaves in site-packages), so the test's registries start fresh and the shared venv is untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.errors import RegistryError
from bench.registry import Registry

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""A tiny out-of-tree brain encoder and metric (lives in its own package)."""
from bench.encoders.base import BrainEncoder


class TinyLinear(BrainEncoder):
    non_semantic_params = ("verbose",)

    def __init__(self, *, n_chans, n_outputs, n_times=None, sfreq=None, subjects=None, width: int = 4,
                 verbose: bool = False):
        import torch

        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects)
        self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(n_chans * n_times, width),
                                       torch.nn.ELU(), torch.nn.Linear(width, n_outputs))

    def forward(self, x, subject=None):
        return self.net(self.check_input(x))


def hit_rate(ranks):
    """Fraction of ranks equal to 0."""
    return float((ranks == 0).mean())
'''


def _install(tmp_path: Path) -> dict[str, str]:
    """Write the plug-in package + its dist-info; return the environment of a process that 'has it installed'."""
    site = tmp_path / "site"
    (site / "h6_tiny_plugin").mkdir(parents=True)
    (site / "h6_tiny_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "h6_tiny_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: h6-tiny-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[brainvis_bench.encoders]\ntiny-linear = h6_tiny_plugin:TinyLinear\n\n"
        "[brainvis_bench.metrics]\nhit_rate = h6_tiny_plugin:hit_rate\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _run(code: str, env: dict[str, str], cwd: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                         cwd=cwd, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()


@pytest.mark.integration
def test_entry_point_plugin_validates_without_torch_then_runs(tmp_path):
    env = _install(tmp_path)
    sub = tmp_path / "tiny.yaml"
    sub.write_text(f"extends: {ROOT / 'submissions' / 'demo.yaml'}\nname: tiny\n"
                   "encoder: {name: tiny-linear, params: {width: 8}}\n")
    # Planning: `bench validate` sees the plug-in (by entry point, read from source) and imports no torch.
    lines = _run(f"""
        import sys
        from bench.validate import validate_file
        from bench.encoders import ENCODERS
        loaded = validate_file({str(sub)!r})
        print(loaded.spec.encoder.params["width"], loaded.spec.encoder.params["verbose"])
        print(ENCODERS.key('tiny-linear'))
        print('torch' in sys.modules, 'h6_tiny_plugin' in sys.modules)
    """, env, tmp_path)
    assert lines == ["8", "False", "tiny-linear", "False", "False"]
    # Running: the encoder builds from the data's shape and trains like a built-in one; its metric is registered.
    lines = _run("""
        import numpy as np, torch
        from bench.config.schema import ComponentSpec
        from bench.encoders import build_encoder
        from bench.metrics import METRICS, metric_info
        enc = build_encoder(ComponentSpec(name="tiny-linear", params={"width": 8}),
                            {"n_chans": 17, "n_times": 100, "sfreq": 100.0}, n_outputs=6, seed=0)
        out = enc(torch.randn(3, 17, 100))
        out.square().mean().backward()
        print(tuple(out.shape), type(enc).__module__)
        print(METRICS.get("hit_rate")(np.array([0, 1, 0, 2])), metric_info("last_epoch/hit_rate").higher_is_better)
    """, env, tmp_path)
    assert lines == ["(3,", "6)", "h6_tiny_plugin", "0.5", "True"]


def test_entry_point_plugin_cli_validate(tmp_path):
    env = _install(tmp_path)
    sub = tmp_path / "tiny.yaml"
    sub.write_text(f"extends: {ROOT / 'submissions' / 'demo.yaml'}\nname: tiny\n"
                   "encoder: {name: tiny-linear, params: {widht: 8}}\n")
    out = subprocess.run([sys.executable, "-m", "bench", "validate", str(sub)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 1
    assert "encoder.params.widht" in out.stderr and "width" in out.stderr and "Traceback" not in out.stderr


def test_bench_validate_does_not_import_torch(tmp_path):
    """`bench validate submissions/demo.yaml` (the CLI, a fresh process) imports no torch at all."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench", "validate",
                          str(ROOT / "submissions" / "demo.yaml")], capture_output=True, text=True, cwd=tmp_path,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time")}
    assert "bench.validate" in imported
    assert not {"torch", "torchvision", "braindecode", "open_clip", "timm"} & imported


@pytest.mark.integration
def test_evaluate_dry_run_does_not_import_torch(tmp_path):
    """Planning a run (`bench evaluate --dry-run`) keys every unit without importing torch."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "bench", "evaluate",
                          str(ROOT / "submissions" / "demo.yaml"), "--dry-run", "--seeds", "0", "--subjects", "1",
                          "--no-progress"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time")}
    assert "bench.runner" in imported or "bench.execution" in imported
    assert "torch" not in imported


def test_lazy_placeholder_is_imported_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "h6_lazy_target.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("widget", "bench.config")
    reg.register_lazy("thing", "h6_lazy_target:Thing", aliases=("t",))
    assert reg.key("t") == "thing" and reg.target("thing") == "h6_lazy_target:Thing"
    assert "h6_lazy_target" not in sys.modules
    assert reg.get("t").__name__ == "Thing" and "h6_lazy_target" in sys.modules
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register_lazy("thing", "other:Thing")


def test_source_scan_finds_decorated_plugins_without_importing(tmp_path, monkeypatch):
    pkg = tmp_path / "h6_scan_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "one.py").write_text("import no_such_heavy_library\n\n@WIDGETS.register('w1', aliases=('one',))\n"
                                "class W1:\n    pass\n\n@OTHER.register('not-mine')\nclass X:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("widget", "h6_scan_pkg", symbol="WIDGETS")
    assert reg.key("one") == "w1" and reg.target("w1") == "h6_scan_pkg.one:W1"
    assert reg.key("not-mine") is None
    assert "h6_scan_pkg.one" not in sys.modules
