"""Leave-one-subject-out folds never see the held-out subject: asserted on what the trainer receives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bench.training.loop as loop
from bench.config import load_submission, load_task
from bench.data.simulate.things_eeg2 import SizeSpec, write_things_eeg2
from bench.data.things_eeg2 import ThingsEEG2
from bench.settings import load_settings
from bench.tasks import Unit, task_kind

SPEC = SizeSpec(train_concepts=24, images_per_concept=2, test_concepts=8, train_reps=2, test_reps=4, image_size=16)
SUBJECTS = (1, 2, 3)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("loso-data")
    write_things_eeg2(root / "things-eeg2", size=SPEC, subjects=len(SUBJECTS), seed=0, snr=1.0)
    return root


def _settings(data_root, tmp_path):
    return load_settings(data_root=data_root, cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights",
                         tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", device="cpu")


def _specs(submission: str):
    task = load_task("things-eeg2-cross-subject", {"dataset": {"subjects": list(SUBJECTS), "source": "real"},
                                                   "seeds": [0]}).spec
    sub = load_submission(submission, {"tasks": [task.name], "recipe": {"epochs": 1, "batch_size": 16}}).spec
    return task, sub


class _Spy:
    """Records every dataset load, every fit (with the encoder's initial weights) and every embed."""

    def __init__(self, monkeypatch):
        self.events: list[tuple] = []
        self.fits: list[dict] = []
        real_load, real_fit, real_embed = ThingsEEG2.load, loop.fit, loop.embed

        def load(ds, subject, part, **kw):
            self.events.append(("load", int(subject), part))
            return real_load(ds, subject, part, **kw)

        def fit(encoder, train, val, recipe, **kw):
            self.events.append(("fit",))
            init = {k: v.detach().clone() for k, v in encoder.state_dict().items()}
            result = real_fit(encoder, train, val, recipe, **kw)
            self.fits.append({"encoder": encoder, "train": train, "val": val, "init": init,
                              "trained": {k: v.detach().clone() for k, v in encoder.state_dict().items()}})
            return result

        def embed(encoder, signals, subjects, **kw):
            self.events.append(("embed", sorted(set(subjects.tolist())) if subjects is not None else None))
            return real_embed(encoder, signals, subjects, **kw)

        monkeypatch.setattr(ThingsEEG2, "load", load)
        monkeypatch.setattr(loop, "fit", fit)
        monkeypatch.setattr(loop, "embed", embed)


@pytest.mark.parametrize("submission", ["demo_cross_subject_atm", "demo_cross_subject"])
def test_fold_never_sees_the_held_out_subject(submission, data_root, tmp_path, monkeypatch):
    task, sub = _specs(submission)
    settings = _settings(data_root, tmp_path)
    spy = _Spy(monkeypatch)
    kind = task_kind(task)
    assert [s for _, s in kind.splits()] == list(SUBJECTS)
    ds = ThingsEEG2(data_root / "things-eeg2")
    for fold, held_out in enumerate((1, 2)):
        start = len(spy.events)
        out = kind.run(Unit(task, sub, f"loso-{held_out:02d}", held_out, 0), settings, progress=False)
        events = spy.events[start:]
        fit_at = events.index(("fit",))
        training = sorted(set(SUBJECTS) - {held_out})
        captured = spy.fits[fold]
        train, val = captured["train"], captured["val"]

        # 1. the trainer's rows (training and validation) come from the training subjects only
        assert sorted(set(train.subjects.tolist())) == training
        assert sorted(set(val.subjects.tolist())) == training
        assert held_out not in set(train.subjects.tolist()) | set(val.subjects.tolist())
        # 2. the held-out subject's training file is never read; its test file only after training
        assert ("load", held_out, "train") not in events
        assert all(e[1] != held_out for e in events[:fit_at] if e[0] == "load")
        assert ("load", held_out, "test") in events[fit_at:]
        # 3. the validation split is by image: no image on both sides
        assert not set(train.image_index.tolist()) & set(val.image_index.tolist())
        # 4. the rows are the training subjects' data (float16 storage), every item once
        n_items = SPEC.train_concepts * SPEC.images_per_concept
        assert len(train) + len(val) == n_items * len(training)
        assert train.signals.dtype == torch.float16
        s = int(train.subjects[0])
        row_image = int(train.image_index[0])
        own = ds.load(s, "train")
        expected = own.signals[ds.images("train").index_of(own.image_ids) == row_image][0]
        np.testing.assert_allclose(train.signals[0].float().numpy(), expected, rtol=2e-3, atol=2e-3)
        # 5. subject tokens: one per training subject; the held-out one maps to the shared token
        encoder = captured["encoder"]
        if getattr(encoder, "subject_token", False):
            assert sorted(encoder.token_subjects.tolist()) == training
            assert int(encoder.token_index(torch.tensor([held_out]), 1, torch.device("cpu"))[0]) == -1
        # 6. the test embedding is computed for the held-out subject only
        assert [e for e in events[fit_at:] if e[0] == "embed"] == [("embed", [held_out])] * 2
        assert out.info["train_subjects"] == training
        assert out.info["n_test"] == SPEC.test_concepts

    # 7. a fresh model per fold: fold 2 starts from new initial weights, not fold 1's trained ones
    first, second = spy.fits
    assert second["encoder"] is not first["encoder"]
    shared_keys = [k for k in first["trained"] if k in second["init"]
                   and first["trained"][k].shape == second["init"][k].shape and first["trained"][k].is_floating_point()]
    changed = [k for k in shared_keys if not torch.equal(first["trained"][k], first["init"][k])]
    assert changed and all(not torch.equal(second["init"][k], first["trained"][k]) for k in changed)


def test_pooled_cache_is_shared_between_folds(data_root, tmp_path, monkeypatch):
    """Fold 2 reuses the cached subject 3 of fold 1 instead of reading its file again."""
    task, sub = _specs("demo_cross_subject")
    settings = _settings(data_root, tmp_path)
    spy = _Spy(monkeypatch)
    kind = task_kind(task)
    kind.run(Unit(task, sub, "loso-01", 1, 0), settings, progress=False)
    start = len(spy.events)
    kind.run(Unit(task, sub, "loso-02", 2, 0), settings, progress=False)
    train_loads = [e for e in spy.events[start:] if e[0] == "load" and e[2] == "train"]
    assert train_loads == [("load", 1, "train")]
    assert len(list((tmp_path / "cache" / "pooled" / "things-eeg2").glob("*.npy"))) == 3
