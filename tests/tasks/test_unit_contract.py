"""The contract every task kind keeps (issue #12.2), checked with a spy on the dataset:

1. no test data (and, in a leave-one-subject-out fold, nothing of the held-out subject) is read
   before training has finished: every read of the test part comes after the last training epoch;
2. in validation-only (tuning) mode the test part is never read at all.

Both are owned by the one unit pipeline (:mod:`bench.tasks.pipeline`): every registered kind runs
through it (``test_every_task_kind_runs_through_the_pipeline``), and the pipeline's order is checked
on a recording kind without data. braindecode style: a registered task kind without a case here
fails ``test_every_task_kind_has_a_case``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import load_submission, load_task
from bench.settings import load_settings
from bench.tasks import TASK_KINDS, Unit, task_kind
from bench.tasks.pipeline import PipelineTaskKind, Scored

ROOT = Path(__file__).resolve().parents[2]

# case id -> (kind, dataset, task, submission, task overrides)
CASES = {
    "retrieval": ("retrieval", "things-eeg2", "things-eeg2-retrieval-200-demo", "demo", {}),
    "retrieval-loso": ("retrieval", "things-eeg2", "things-eeg2-cross-subject-demo", "demo_cross_subject", {}),
    "classification": ("classification", "imagenet-eeg", "imagenet-eeg-40-demo", "demo_palazzo",
                       {"protocol": {"controls": {"high_gamma": "band-power", "permutations": 20}}}),
    "saliency": ("saliency", "imagenet-eeg", "imagenet-eeg-saliency-demo", "demo_palazzo", {"protocol": {"stride": 16}}),
    "reconstruction": ("reconstruction", "things-eeg2", "things-eeg2-reconstruction-demo",
                       "recon_retrieval_baseline_demo", {"protocol": {"metrics": ["pixcorr", "ssim"]}}),
}
READS = ("load", "load_subjects", "images", "fixations", "concept_centre_images")


def test_every_task_kind_has_a_case():
    covered = {kind for kind, *_ in CASES.values()}
    assert not set(TASK_KINDS.names()) - covered, f"task kinds without a contract case: {set(TASK_KINDS.names()) - covered}"


def test_every_task_kind_runs_through_the_pipeline():
    for name in TASK_KINDS.names():
        cls = TASK_KINDS.get(name)
        assert issubclass(cls, PipelineTaskKind), f"task kind '{name}' does not run through bench.tasks.pipeline"
        assert cls.run is PipelineTaskKind.run and cls.execute is PipelineTaskKind.execute, \
            f"task kind '{name}' overrides the pipeline's order (run/execute); override its steps instead"


class _Result:
    curves = {"train_loss": [3.0, 2.0, 1.0], "val_loss": [2.0, 1.0, 1.5], "val_top1": [0.1, 0.4, 0.3]}
    chosen_epoch, last_epoch, stopped_early = 2, 3, False


class _Trained:
    def __init__(self, log: list) -> None:
        self.result, self.log, self.loaded = _Result(), log, "last"

    def use(self, which: str) -> "_Trained":
        self.log.append(("use", which))
        self.loaded = which
        return self


class _Recording(PipelineTaskKind):
    """A task kind without data: records the order in which the pipeline calls its steps."""

    name = "recording"

    def __init__(self) -> None:           # no task spec needed
        self.log: list = []

    def splits(self):
        return [("sub-01", 1)]

    def fingerprint(self, unit, settings):
        return {}

    def prepare(self, ctx):
        self.log.append(("prepare",))
        return "prepared"

    def train(self, ctx, prepared):
        self.log.append(("train", prepared))
        return _Trained(self.log)

    def load_test(self, ctx, prepared, trained):
        self.log.append(("load_test",))
        return "test"

    def score(self, ctx, prepared, trained, test, label):
        self.log.append(("score", label, trained.loaded))
        return Scored({"top1": {"best": 0.5, "last": 0.25}[trained.loaded]}, {"item_id": [label or "chosen"]})

    def finish(self, ctx, prepared, trained, test, scored, metrics):
        self.log.append(("finish", sorted(scored)))
        metrics["unit_level"] = 1.0


def test_pipeline_order_best_and_last_and_validation_only():
    kind = _Recording()
    out = kind.run(None, None, progress=False)
    assert kind.log == [("prepare",), ("train", "prepared"), ("load_test",), ("use", "best"),
                        ("score", "", "best"), ("use", "last"), ("score", "last_epoch/", "last"), ("use", "best"),
                        ("finish", ["", "last_epoch/"])]
    assert out.metrics == {"top1": 0.5, "last_epoch/top1": 0.25, "unit_level": 1.0}
    assert out.per_item == {"item_id": ["chosen"]} and out.chosen_epoch == 2
    assert out.info["last_epoch"] == 3 and {"train", "total"} <= set(out.timings)

    kind = _Recording()
    out = kind.run(None, None, progress=False, validation_only=True)
    assert kind.log == [("prepare",), ("train", "prepared")]           # the test split is never reached
    assert out.metrics == {"val_loss": 1.0, "val_top1": 0.4}         # the chosen epoch (2), not the last


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from bench.data.simulate.imagenet_eeg import write_imagenet_eeg
    from bench.data.simulate.things_eeg2 import SizeSpec, write_things_eeg2

    root = tmp_path_factory.mktemp("contract-data")
    write_things_eeg2(root / "things-eeg2", size=SizeSpec(train_concepts=16, images_per_concept=2, test_concepts=8,
                                                          train_reps=2, test_reps=2, image_size=16),
                      subjects=2, seed=0, snr=1.0)
    write_imagenet_eeg(root / "imagenet-eeg", size="tiny", subjects=2, seed=0)
    return root


class _Spy:
    """Records every read of a dataset part (method, part, subjects) and every training epoch, in order."""

    def __init__(self, monkeypatch) -> None:
        from bench.data import DATASETS

        self.events: list[tuple] = []
        for name in ("things-eeg2", "imagenet-eeg"):
            cls = DATASETS.get(name)
            for method in READS:
                if hasattr(cls, method):
                    monkeypatch.setattr(cls, method, self._wrap(method, getattr(cls, method)))

    def _wrap(self, method, real):
        spy = self

        def read(ds, *args, **kwargs):
            subjects: tuple = ()
            if method in ("load", "load_subjects"):
                first = args[0] if args else kwargs.get("subject", kwargs.get("subjects"))
                subjects = tuple(first) if isinstance(first, (list, tuple)) else (int(first),)
                part = args[1] if len(args) > 1 else kwargs.get("part")
            else:
                part = args[0] if args else kwargs.get("part", "test")
            spy.events.append(("read", method, part, subjects))
            return real(ds, *args, **kwargs)

        return read

    def on_epoch(self, epoch: int, metrics: dict) -> None:
        self.events.append(("epoch", epoch))


def _unit(case: str, data_root: Path, tmp_path: Path):
    kind, _, task_name, sub_name, overrides = CASES[case]
    task = load_task(task_name, {"dataset": {"source": "real", "subjects": [1, 2]}, "seeds": [0], **overrides}).spec
    sub = load_submission(sub_name, {"tasks": [task.name], "recipe": {"epochs": 2, "batch_size": 16,
                                                                      "early_stopping_patience": None}}).spec
    settings = load_settings(data_root=data_root, cache_dir=tmp_path / "cache", weights_dir=tmp_path / "weights",
                             tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", device="cpu")
    tk = task_kind(task)
    split, subject = tk.splits()[-1]
    return tk, Unit(task, sub, split, subject, 0), settings


@pytest.mark.parametrize("case", sorted(CASES))
def test_test_split_is_read_only_after_training(case, data_root, tmp_path, monkeypatch):
    tk, unit, settings = _unit(case, data_root, tmp_path)
    spy = _Spy(monkeypatch)
    out = tk.run(unit, settings, progress=False, on_epoch=spy.on_epoch)
    epochs = [i for i, e in enumerate(spy.events) if e[0] == "epoch"]
    test_reads = [i for i, e in enumerate(spy.events) if e[0] == "read" and e[2] == "test"]
    assert epochs, "the unit trained nothing"
    assert test_reads, "the unit never read its test split"
    last_epoch = out.info.get("last_epoch", spy.events[epochs[-1]][1])
    trained_before_test = [spy.events[i][1] for i in epochs if i < test_reads[0]]
    assert last_epoch in trained_before_test, f"test split read before training ended: {spy.events}"
    if unit.split.startswith("loso-"):
        held_out = unit.subject
        before = spy.events[:test_reads[0]]
        assert all(held_out not in e[3] for e in before if e[0] == "read"), spy.events
        assert all(not (e[0] == "read" and e[2] == "train" and held_out in e[3]) for e in spy.events)


@pytest.mark.parametrize("case", sorted(CASES))
def test_validation_only_mode_never_reads_the_test_split(case, data_root, tmp_path, monkeypatch):
    tk, unit, settings = _unit(case, data_root, tmp_path)
    spy = _Spy(monkeypatch)
    out = tk.run(unit, settings, progress=False, validation_only=True, on_epoch=spy.on_epoch)
    assert any(e[0] == "epoch" for e in spy.events)
    assert not [e for e in spy.events if e[0] == "read" and e[2] == "test"], spy.events
    assert out.metrics and all(k.startswith("val_") for k in out.metrics), out.metrics
