"""The paper-variant tasks (NICE, ATM, AlignVis, MindEye) run end to end on the embedded simulated data.

Each variant changes only the evaluation protocol of the sound default (tasks/*-nice.yaml, *-atm.yaml,
*-alignvis.yaml, nsd-retrieval-mindeye.yaml); selection stays on validation. Checked here: every
variant's metrics exist and are consistent with their definitions on the real records
(exact k-way = the closed form of the recorded ranks; batch-wise top-1 averages its per-item
outcomes; NICE's gallery is the concept centres, missing extra images are named).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.runner import evaluate

ROOT = Path(__file__).resolve().parents[2]


def _submission(tmp: Path, name: str, *, task: str, submission: str, epochs: int = 3, size: str = "micro",
                protocol: dict | None = None) -> Path:
    """A submission extending ``submission`` on a one-unit copy of ``task`` (simulation ``size``)."""
    task_file = tmp / f"{name}-task.yaml"
    dataset = {"subjects": [1], "simulation": {"size": size, "n_subjects": 1, "seed": 0, "snr": 1.0}}
    spec = {"extends": str(ROOT / "tasks" / f"{task}.yaml"), "name": f"{name}-task", "dataset": dataset, "seeds": [0]}
    if protocol:
        spec["protocol"] = protocol
    task_file.write_text(yaml.safe_dump(spec))
    sub_file = tmp / f"{name}.yaml"
    sub_file.write_text(yaml.safe_dump({"extends": str(ROOT / "submissions" / f"{submission}.yaml"), "name": name,
                                        "tasks": [str(task_file)], "recipe": {"epochs": epochs}}))
    return sub_file


def _exact_kway(ranks, n_gallery: int, k: int) -> float:
    return float(np.mean([math.comb(n_gallery - 1 - r, k - 1) / math.comb(n_gallery - 1, k - 1) for r in ranks]))


@pytest.mark.slow
def test_things_eeg2_paper_variants_run_on_the_demo_data(tmp_path, settings):
    subs = [_submission(tmp_path, "nice-v", task="things-eeg2-retrieval-200-nice-demo", submission="demo"),
            _submission(tmp_path, "atm-v", task="things-eeg2-retrieval-200-atm-demo", submission="demo"),
            _submission(tmp_path, "alignvis-v", task="things-eeg2-retrieval-200-alignvis-demo",
                        submission="demo_alignvis")]
    by_sub = {}
    for sub in subs:                     # one call each: evaluate() runs every listed task for every submission
        report = evaluate([str(sub)], settings=settings, progress=False)
        assert not report.failed, report.failed[0].error
        (record,) = report.records
        by_sub[record.submission] = record

    nice = by_sub["nice-v"]
    assert nice.info["gallery"] == "concept-centre" and nice.info["similarity"] == "dot-unnormalised-gallery"
    assert {"top1", "top3", "top5", "last_epoch/top3"} <= set(nice.metrics)
    assert not any(m.startswith("kway/") for m in nice.metrics)
    assert nice.metrics["top1"] <= nice.metrics["top3"] <= nice.metrics["top5"]
    assert nice.metrics["top5"] > 5 / nice.info["n_gallery"]          # the concept centres carry signal

    atm = by_sub["atm-v"]
    n = atm.info["n_gallery"]
    ranks = atm.per_item["rank"]
    for k in (2, 4, 10):
        assert atm.metrics[f"kway/{k}/top1"] == pytest.approx(_exact_kway(ranks, n, k))
        assert f"kway/{k}/top1/sampled" in atm.metrics
    assert atm.metrics["kway/10/top1"] == pytest.approx(atm.metrics["top1"])   # k = N (micro): all others
    assert "kway/50/top1" not in atm.metrics                                  # k > N is skipped
    assert atm.metrics["kway/2/top1"] > 0.6

    alignvis = by_sub["alignvis-v"]
    assert alignvis.info["similarity"] == "pearson" and alignvis.metrics["kway/2/top1"] > 0.6


@pytest.mark.slow
def test_nsd_mindeye_variant_runs_on_the_demo_data(tmp_path, settings):
    # micro NSD has 12 test images: batches of 5 (2 batches, 2 items dropped) instead of the demo's 20
    sub = _submission(tmp_path, "mindeye-v", task="nsd-retrieval-mindeye-demo", submission="demo_nsd_mindeye",
                      protocol={"batch_retrieval": [5], "k_way": [2, 4, 10]})
    report = evaluate([str(sub)], settings=settings, progress=False)
    assert not report.failed, report.failed[0].error
    (rec,) = report.records
    outcomes = [v for v in rec.per_item["batch5_top1"] if v is not None and not (isinstance(v, float) and math.isnan(v))]
    assert len(outcomes) == 5 * (rec.info["n_test"] // 5) and rec.info["chance"]["batch5/top1"] == 0.2
    assert rec.metrics["batch5/top1"] == pytest.approx(np.mean(outcomes))
    assert rec.metrics["kway/10/top1"] == pytest.approx(_exact_kway(rec.per_item["rank"], rec.info["n_gallery"], 10))


def test_concept_centre_gallery_names_the_missing_images(tmp_path):
    from bench.data.simulate.things_eeg2 import write_things_eeg2
    from bench.data.things_eeg2 import ThingsEEG2
    from bench.errors import DataError
    import shutil

    root = write_things_eeg2(tmp_path / "d", size="micro", subjects=1)
    ds = ThingsEEG2(root, variant="250hz")
    images, owner = ds.concept_centre_images("test")
    test_images = ds.images("test")
    assert len(images) == 2 * len(test_images) and sorted(set(owner.tolist())) == list(range(len(test_images)))
    test_names = {p.name for p in test_images.paths}
    assert not test_names & {p.name for p in images.paths}            # the test image itself is left out
    concept = test_images.ids[3].split("/")[0].split("_", 1)[1]
    shutil.rmtree(root / "object_images" / concept)
    for p in (root / "object_images" / test_images.ids[5].split("/")[0].split("_", 1)[1]).iterdir():
        if p.name not in test_names:
            p.unlink()
    with pytest.raises(DataError) as err:
        ThingsEEG2(root, variant="250hz").concept_centre_images("test")
    assert f"object_images/{concept}/ (no folder)" in str(err.value) and "2 of 10" in str(err.value)
    assert "(only the test image)" in str(err.value)


# ------------------------------------------------------------------------------------ task files
VARIANTS = {  # variant task -> the sound default it extends
    "things-eeg2-retrieval-200-nice": "things-eeg2-retrieval-200",
    "things-eeg2-retrieval-200-atm": "things-eeg2-retrieval-200",
    "things-eeg2-retrieval-200-alignvis": "things-eeg2-retrieval-200",
    "things-meg-retrieval-200-alignvis": "things-meg-retrieval-200",
    "nsd-retrieval-alignvis": "nsd-retrieval",
    "things-eeg2-cross-subject-alignvis": "things-eeg2-cross-subject",
    "nsd-retrieval-mindeye": "nsd-retrieval",
}


@pytest.mark.parametrize("name,default", sorted(VARIANTS.items()))
def test_variant_tasks_extend_the_default_state_what_they_change_and_have_a_demo(name, default):
    from bench.config import load_task

    raw = yaml.safe_load((ROOT / "tasks" / f"{name}.yaml").read_text())
    assert raw["extends"] == default and raw["variant"] != "default" and raw["reference"]
    text = (ROOT / "tasks" / f"{name}.yaml").read_text()
    assert text.lstrip().startswith("#") and ("L" in text or "::" in text)     # comments cite the code
    spec, parent = load_task(name).spec, load_task(default).spec
    assert spec.selection == parent.selection and spec.validation == parent.validation   # selection on validation
    demo = load_task(f"{name}-demo").spec
    assert demo.dataset.source == "simulated" and demo.protocol["similarity"] == spec.protocol["similarity"]


# ------------------------------------------------------------------------------- reported numbers
def _spec(name: str) -> dict:
    from bench.config import load_task

    return load_task(name).spec.model_dump(mode="json")


def test_every_reported_row_carries_its_protocol_facts():
    from bench.leaderboard.reported import load_reported

    rows = load_reported()
    assert rows and all(r.protocol is not None for r in rows)
    alignvis = [r for r in rows if r.paper == "AlignVis"]
    assert {(r.protocol.gallery, r.protocol.similarity, r.protocol.selection, r.protocol.estimate)
            for r in alignvis} == {("stimulus", "pearson", "validation", "exhaustive")}
    assert all(r.protocol.evidence for r in rows)
    assert all("downstream.py" in r.protocol.evidence for r in alignvis if r.table == "Table 1")


def test_reported_rows_attach_only_to_the_variant_whose_protocol_matches():
    from bench.leaderboard.reported import load_reported, reported_for_task, reported_mismatches

    rows = load_reported()
    assert {r.table for r in reported_for_task(rows, _spec("things-eeg2-retrieval-200-alignvis"))} == {"Table 1"}
    for name in ("things-eeg2-retrieval-200", "things-eeg2-retrieval-200-nice", "things-eeg2-retrieval-200-atm"):
        assert reported_for_task(rows, _spec(name)) == [], name
        (m,) = reported_mismatches(rows, _spec(name))
        assert m.n_rows == 48 and any("similarity: paper pearson" in x for x in m.reasons)
    (nice,) = reported_mismatches(rows, _spec("things-eeg2-retrieval-200-nice"))
    assert "gallery: paper stimulus, task concept-centre" in nice.reasons
    assert reported_for_task(rows, _spec("things-eeg2-retrieval-200-alignvis-demo")) == []   # simulated
    assert reported_mismatches(rows, _spec("things-eeg2-retrieval-200-alignvis-demo")) == []


def test_batch_size_single_draw_and_test_selection_are_checked_and_shown():
    from dataclasses import replace

    from bench.leaderboard.reported import (ProtocolFacts, load_reported, protocol_mismatch, reported_for_task,
                                            reported_mismatches)

    nsd = next(r for r in load_reported() if r.dataset == "nsd" and r.metric == "top1_acc")
    mindeye = replace(nsd, protocol=ProtocolFacts("stimulus", "cosine", "test", "exhaustive", 300, "", "MindEye1"))
    assert reported_for_task([mindeye], _spec("nsd-retrieval-mindeye")) == [mindeye]
    assert mindeye.optimistic and "selected on test" in mindeye.protocol.label
    assert protocol_mismatch(mindeye, _spec("nsd-retrieval")) == [
        "batch retrieval: paper batches of 300, task none of that size"]
    (m,) = reported_mismatches([mindeye], _spec("nsd-retrieval"))
    assert m.optimistic
    atm = replace(mindeye, protocol=ProtocolFacts("stimulus", "cosine", "test", "single draw", None, "", "ATM"))
    no_draw = {**_spec("nsd-retrieval"), "protocol": {**_spec("nsd-retrieval")["protocol"], "k_way_sampled": False}}
    assert protocol_mismatch(atm, no_draw) == ["k-way: paper one random draw, task reports no sampled draw"]


def test_a_table_without_protocol_facts_is_an_error_naming_it(tmp_path):
    import shutil

    from bench.errors import RecordError
    from bench.leaderboard.reported import REPORTED_DIR, load_reported

    folder = tmp_path / "reported"
    shutil.copytree(REPORTED_DIR, folder)
    lines = (folder / "protocols.csv").read_text().splitlines(keepends=True)
    (folder / "protocols.csv").write_text("".join(l for l in lines if not l.startswith("palazzo2020_tpami.csv,Table 4")))
    with pytest.raises(RecordError) as err:
        load_reported(folder)
    assert "palazzo2020_tpami.csv, Table 4" in str(err.value) and "protocols.csv" in str(err.value)
