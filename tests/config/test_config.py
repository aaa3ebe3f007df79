"""Configs: safe YAML, extends, validation errors that name file/field/fix, stable hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import load_submission, load_task, spec_hash
from bench.config.yaml_io import deep_merge
from bench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_every_task_and_submission_file_loads():
    for path in sorted((ROOT / "tasks").glob("*.yaml")):
        assert load_task(path).spec.name == path.stem
    for path in sorted((ROOT / "submissions").glob("*.yaml")):
        assert load_submission(path).spec.name == path.stem


def test_extends_overrides_only_what_it_names():
    base = load_task("things-eeg2-retrieval-200").spec
    variant = load_task("things-eeg2-retrieval-200-atm-single-trial").spec
    assert variant.dataset.train_repetitions == "single"
    assert base.dataset.train_repetitions == "average"
    assert variant.dataset.subjects == base.dataset.subjects
    assert variant.protocol == base.protocol
    assert variant.variant == "atm-single-trial"


def test_extends_with_another_plugin_replaces_its_params():
    spec = load_submission("nice_clip").spec
    assert spec.image_model.name == "open_clip"
    assert "type" not in spec.image_model.params and spec.image_model.params["model"] == "ViT-B-32"
    assert spec.encoder.name == "nice"


def test_deep_merge_semantics():
    parent = {"a": {"x": 1, "y": [1, 2]}, "m": {"name": "p", "params": {"k": 1}}}
    child = {"a": {"y": [3]}, "m": {"name": "q", "params": {"j": 2}}}
    assert deep_merge(parent, child) == {"a": {"x": 1, "y": [3]}, "m": {"name": "q", "params": {"j": 2}}}


def test_hash_is_stable_and_content_based(tmp_path):
    a = load_task("things-eeg2-retrieval-200")
    b = load_task("things-eeg2-retrieval-200")
    assert a.hash == b.hash and len(a.hash) == 16
    changed = load_task("things-eeg2-retrieval-200", overrides={"seeds": [0, 1]})
    assert changed.hash != a.hash
    # Description does not change what is computed: same hash.
    desc = load_task("things-eeg2-retrieval-200", overrides={"description": "other words"})
    assert desc.hash == a.hash
    # Key order in the file does not matter.
    f1 = write(tmp_path / "s1.yaml", "name: s\ntasks: [t]\nencoder: {name: nice}\nimage_model: {name: m}\n")
    f2 = write(tmp_path / "s2.yaml", "image_model: {name: m}\nencoder: {name: nice}\ntasks: [t]\nname: s\n")
    assert spec_hash(load_submission(f1).spec) == spec_hash(load_submission(f2).spec)


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.yaml", "name: x\nencoder: {name: nice\n")
    with pytest.raises(ConfigError) as err:
        load_submission(bad)
    msg = str(err.value)
    assert "bad.yaml" in msg and "line" in msg and "fix:" in msg


def test_unsafe_yaml_tag_refused(tmp_path):
    bad = write(tmp_path / "evil.yaml", "name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="unsafe or unknown YAML tag"):
        load_submission(bad)


def test_unknown_field_names_field_and_allowed_ones(tmp_path):
    bad = write(tmp_path / "typo.yaml", "extends: demo\nname: typo\nrecipe: {epoch: 3}\n")
    with pytest.raises(ConfigError) as err:
        load_submission(bad)
    msg = str(err.value)
    assert "typo.yaml" in msg and "recipe.epoch" in msg and "epochs" in msg


def test_wrong_type_and_missing_field(tmp_path):
    bad = write(tmp_path / "t.yaml", "name: t\nversion: 1\nkind: retrieval\ndataset: {name: things-eeg2}\n")
    with pytest.raises(ConfigError, match="dataset.subjects"):
        load_task(bad)
    bad2 = write(tmp_path / "s.yaml", "extends: demo\nname: s\nrecipe: {batch_size: many}\n")
    with pytest.raises(ConfigError, match="recipe.batch_size"):
        load_submission(bad2)


def test_extends_cycle_and_unknown_parent(tmp_path):
    write(tmp_path / "a.yaml", "extends: b.yaml\nname: a\n")
    write(tmp_path / "b.yaml", "extends: a.yaml\nname: b\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_submission(tmp_path / "a.yaml")
    write(tmp_path / "c.yaml", "extends: no-such-parent\nname: c\n")
    with pytest.raises(ConfigError) as err:
        load_submission(tmp_path / "c.yaml")
    assert "extends" in str(err.value) and "demo" in str(err.value)  # lists known submissions


def test_leave_one_subject_out_needs_a_training_subject(tmp_path):
    """One subject under LOSO leaves nothing to train on: refused when the file loads, not mid-unit."""
    one = write(tmp_path / "t.yaml", f"extends: {ROOT / 'tasks' / 'things-eeg2-cross-subject-demo.yaml'}\n"
                                     "name: loso-one\ndataset: {subjects: [2]}\n")
    with pytest.raises(ConfigError, match=r"dataset.subjects needs at least 2 \(got \[2\]\)") as err:
        load_task(one)
    assert err.value.field == "scheme" and "t.yaml" in str(err.value)
    two = write(tmp_path / "t2.yaml", one.read_text().replace("[2]", "[2, 3]"))
    assert load_task(two).spec.dataset.subjects == [2, 3]


def test_simulated_subjects_must_exist(tmp_path):
    bad = write(tmp_path / "t.yaml", "extends: things-eeg2-retrieval-200-demo\nname: t\ndataset: {subjects: [1, 5]}\n")
    with pytest.raises(ConfigError, match="n_subjects"):
        load_task(bad)
