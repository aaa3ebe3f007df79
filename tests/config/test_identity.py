"""Identity is the resolved computation (issue #12.1): writing a default out never changes a key,
a real change always does, and so does a changed default in code."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.config import load_submission, load_task, spec_hash
from bench.config.resolve import (ENCODER_EXCLUDED, IMAGE_MODEL_EXCLUDED, live_signature, static_signature)
from bench.config.schema import ComponentSpec, SubmissionSpec
from bench.records.keys import unit_key

ROOT = Path(__file__).resolve().parents[2]
TASK = "things-eeg2-retrieval-200-demo"


def _task_hash(**protocol) -> str:
    return load_task(TASK, overrides={"protocol": protocol} if protocol else None).hash


def _sub_hash(encoder: dict | None = None, image_model: dict | None = None) -> str:
    overrides = {}
    if encoder is not None:
        overrides["encoder"] = {"params": encoder}
    if image_model is not None:
        overrides["image_model"] = {"params": image_model}
    return load_submission("demo", overrides=overrides or None).hash


def test_protocol_default_written_out_gives_the_same_key():
    base = _task_hash()
    assert _task_hash(shuffle_training_pairs=False) == base
    assert _task_hash(top_k=[1, 5]) == base
    assert _task_hash(shuffle_training_pairs=True) != base          # a real change
    assert _task_hash(top_k=[1]) != base


def test_protocol_is_stored_with_defaults_and_runs_as_stored():
    from bench.tasks import task_kind

    for path in sorted((ROOT / "tasks").glob("*.yaml")):
        spec = load_task(path).spec
        model = task_kind(spec).protocol
        assert model.model_dump(mode="json") == spec.protocol, path.name
        assert set(spec.protocol) == set(type(model).model_fields), path.name   # every field written out


def test_invalid_protocol_is_an_error_at_load_naming_the_field(tmp_path):
    from bench.errors import ConfigError

    bad = tmp_path / "t.yaml"
    bad.write_text(f"extends: {TASK}\nname: t\nprotocol: {{top_kk: [1]}}\n")
    with pytest.raises(ConfigError) as err:
        load_task(bad)
    assert "protocol.top_kk" in str(err.value) and "t.yaml" in str(err.value)


def test_encoder_defaults_written_out_give_the_same_key():
    base = _sub_hash()
    assert _sub_hash(encoder={"n_filters": 40, "dropout": 0.5}) == base
    assert _sub_hash(encoder={"impl": "composed"}) == base             # declared non-semantic
    assert _sub_hash(encoder={"n_filters": 20}) != base                # a real change
    assert _sub_hash(image_model={"size": 64}) == base
    assert _sub_hash(image_model={"size": 32}) != base


def test_loaded_submission_carries_the_resolved_params():
    spec = load_submission("demo").spec
    assert spec.encoder.params["n_filters"] == 40 and spec.encoder.params["impl"] == "fast"
    assert spec.image_model.params["size"] == 64


def test_changed_code_default_gives_a_new_key(monkeypatch):
    from bench.encoders.nice import NICE

    spec = load_submission("demo").spec
    raw = spec.model_copy(update={"encoder": ComponentSpec(name="nice")})   # as a YAML naming no params
    before, before_raw = spec_hash(spec), spec_hash(raw)
    assert before == before_raw
    kwdefaults = dict(NICE.__init__.__kwdefaults__)
    monkeypatch.setattr(NICE.__init__, "__kwdefaults__", {**kwdefaults, "n_filters": 20})
    assert spec_hash(raw) != before_raw
    monkeypatch.setattr(NICE.__init__, "__kwdefaults__", {**kwdefaults, "impl": "literal"})
    assert spec_hash(raw) == before_raw                                # non-semantic default: same key


def test_changed_default_in_source_of_a_lazy_plugin_gives_a_new_key(tmp_path, monkeypatch):
    """The source-reading path (plug-in not imported yet) sees a changed default too."""
    from bench.encoders import ENCODERS

    pkg = tmp_path / "h6_identity_plugin.py"
    body = textwrap.dedent('''
        from bench.encoders.base import BrainEncoder

        class Enc(BrainEncoder):
            non_semantic_params = ("workers",)

            def __init__(self, *, n_chans, n_outputs, n_times=None, sfreq=None, subjects=None,
                         width: int = {width}, workers: int = 2):
                super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq)
    ''')
    pkg.write_text(body.format(width=8))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(ENCODERS._lazy, "h6-lazy", "h6_identity_plugin:Enc")
    sub = SubmissionSpec(name="s", tasks=[TASK], encoder=ComponentSpec(name="h6-lazy"),
                         image_model=ComponentSpec(name="pixels-colour-texture"))
    first = spec_hash(sub)
    assert "h6_identity_plugin" not in sys.modules                     # read, not imported
    assert spec_hash(sub.model_copy(update={"encoder": ComponentSpec(name="h6-lazy", params={"width": 8,
                                                                                             "workers": 9})})) == first
    pkg.write_text(body.format(width=16))
    assert spec_hash(sub) != first


@pytest.mark.parametrize("which", ["encoder", "image_model"])
def test_source_reading_agrees_with_the_imported_class(which):
    """For every registered plug-in: defaults and non-semantic params read from source == inspect's."""
    if which == "encoder":
        from bench.encoders import ENCODERS as registry
        exclude = ENCODER_EXCLUDED
    else:
        from bench.images import IMAGE_MODELS as registry
        exclude = IMAGE_MODEL_EXCLUDED
    for name in registry.names():
        cls = registry.get(name)
        target = f"{cls.__module__}:{cls.__qualname__}"
        module = sys.modules.pop(cls.__module__)              # pretend it is not imported yet
        try:
            static = static_signature(target, exclude)
        finally:
            sys.modules[cls.__module__] = module
        assert static is not None, f"{which} '{name}': cannot read its signature from source"
        assert static == live_signature(cls, exclude), name


def test_harness_version_is_part_of_the_key():
    args = dict(task_hash="t", submission_hash="s", split="sub-01", seed=0, data_checksum="d", weights_checksum="w")
    assert unit_key(**args) != unit_key(**args, harness_version="0.1.0")   # old records: another key


def test_validate_reports_unknown_params_without_importing_torch(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text(f"extends: {ROOT / 'submissions' / 'demo.yaml'}\nname: s\nencoder: {{params: {{n_filter: 3}}}}\n")
    code = textwrap.dedent(f"""
        import sys
        from bench.errors import ConfigError
        from bench.validate import validate_file
        try:
            validate_file({str(bad)!r})
        except ConfigError as exc:
            print(exc.field)
        print('torch' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["encoder.params.n_filter", "False"], out.stderr


def test_reload_keeps_registry_consistent():
    """Importing a plug-in module after a lazy lookup registers the same object (no 'registered twice')."""
    from bench.images import IMAGE_MODELS

    cls = IMAGE_MODELS.get("pixels-colour-texture")
    importlib.import_module(cls.__module__)
    assert IMAGE_MODELS.get("pixels-color-texture") is cls
