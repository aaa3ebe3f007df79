"""Compatibility-suppression saliency: the batched map against a naive loop, strided vs exact,
geometry, and the task end to end on simulated ImageNet-EEG with planted salient objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.tasks.saliency import (centre_bias_map, grid_positions, minmax, paste_map, scaled_sigmas,
                                  suppression_map, upsample_linear)


def _naive(score, image, sigmas, fill):
    c, h, w = image.shape
    base = float(score(image[None])[0])
    out = np.zeros((h, w))
    for s in sigmas:
        lo, hi = s // 2, s - s // 2 - 1
        for y in range(h):
            for x in range(w):
                v = image.clone()
                v[:, max(0, y - lo):y + hi + 1, max(0, x - lo):x + hi + 1] = fill
                out[y, x] += base - float(score(v[None])[0])
    return out


def _score_fn(weights: torch.Tensor):
    def score(batch: torch.Tensor) -> torch.Tensor:          # a nonlinear "compatibility"
        return torch.tanh((batch * weights).sum((1, 2, 3)) / 10) + (batch[:, 0] ** 2).mean((1, 2))
    return score


def test_batched_map_equals_naive_loop():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 9, 11, generator=g)
    weights = torch.randn(3, 9, 11, generator=g)
    score = _score_fn(weights)
    sigmas = (1, 3, 4)
    expected = _naive(score, image, sigmas, 0.0)
    for batch_size in (1, 7, 1000):
        got = suppression_map(score, image, sigmas, stride=1, batch_size=batch_size, fill=0.0)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    fill = torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1)
    np.testing.assert_allclose(suppression_map(score, image, sigmas, fill=fill), _naive(score, image, sigmas, fill),
                               rtol=1e-5, atol=1e-6)


def test_strided_map_matches_exact_on_the_grid_and_interpolates():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(3, 17, 13, generator=g)
    score = _score_fn(torch.randn(3, 17, 13, generator=g))
    exact = suppression_map(score, image, (3, 5), stride=1)
    strided = suppression_map(score, image, (3, 5), stride=4)
    ys, xs = grid_positions(17, 4), grid_positions(13, 4)
    assert ys.tolist() == [0, 4, 8, 12, 16] and xs.tolist() == [0, 4, 8, 12]
    np.testing.assert_allclose(strided[np.ix_(ys, xs)], exact[np.ix_(ys, xs)], rtol=1e-6, atol=1e-9)
    assert strided.shape == exact.shape
    # linear interpolation between grid points
    np.testing.assert_allclose(strided[2, 0], (strided[0, 0] + strided[4, 0]) / 2)
    coarse = np.array([[0.0, 2.0], [4.0, 6.0]])
    np.testing.assert_allclose(upsample_linear(coarse, np.array([0, 2]), np.array([0, 2]), (3, 3)),
                               [[0, 1, 2], [2, 3, 4], [4, 5, 6]])


def test_map_finds_the_region_the_score_depends_on():
    image = torch.ones(3, 32, 32)
    weights = torch.zeros(3, 32, 32)
    weights[:, 20:26, 4:10] = 1.0                     # the score reads only this patch

    def score(batch):
        return (batch * weights).sum((1, 2, 3))

    smap = suppression_map(score, image, scaled_sigmas([3, 5, 9], 32, None), stride=2)
    y, x = np.unravel_index(np.argmax(smap), smap.shape)
    assert 20 <= y < 26 and 4 <= x < 10
    assert smap[2, 28] == pytest.approx(0.0)


def test_geometry_helpers():
    assert scaled_sigmas([3, 5, 9, 17, 33, 65], 64, 299) == [1, 1, 3, 5, 7, 15]
    assert scaled_sigmas([3, 65], 299, None) == [3, 65]
    cb = centre_bias_map((40, 60), 0.25)
    assert np.unravel_index(np.argmax(cb), cb.shape) in {(19, 29), (19, 30), (20, 29), (20, 30)}
    m = np.arange(16.0).reshape(4, 4)
    pasted = paste_map(m, (10, 0, 30, 20), (20, 40))          # crop box of a 40 x 20 image
    assert pasted.shape == (20, 40) and pasted[:, :10].max() == m.min() and pasted[:, 30:].max() == m.min()
    assert minmax(np.array([2.0, 4.0])).tolist() == [0.0, 1.0] and minmax(np.ones(3)).tolist() == [0, 0, 0]


# ----------------------------------------------------------------------------------------- end to end
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from bench.data.simulate.imagenet_eeg import write_imagenet_eeg

    base = tmp_path_factory.mktemp("imagenet-eeg-saliency")
    write_imagenet_eeg(base / "imagenet-eeg", size="tiny", subjects=2, seed=0)
    return base


def test_saliency_end_to_end_classifier_map_beats_centre_bias_where_planted(data_root, tmp_path, settings):
    from bench.records.mlflow_store import RecordStore
    from bench.runner import evaluate
    from bench.stats import compare

    task = tmp_path / "sal-task.yaml"
    task.write_text(f"extends: {ROOT / 'tasks' / 'imagenet-eeg-saliency-demo.yaml'}\nname: sal-test\n"
                    "dataset: {source: real}\nseeds: [0]\nprotocol: {stride: 8}\n")
    subs = []
    for name, epochs in (("trained", 6), ("one-epoch", 1)):
        sub = tmp_path / f"{name}.yaml"
        sub.write_text(f"extends: {ROOT / 'submissions' / 'demo_palazzo_nice.yaml'}\nname: sal-{name}\n"
                       f"tasks: [{task}]\nrecipe: {{epochs: {epochs}}}\n")
        subs.append(str(sub))
    report = evaluate(subs, settings=settings.with_(data_root=data_root), progress=False)
    assert not report.failed, report.failed[0].error
    record = next(r for r in report.records if r.submission == "sal-trained")
    m = record.metrics
    assert set(m) >= {"s_auc", "s_auc_exact", "nss", "cc", "baseline/centre/s_auc", "baseline/classifier/nss"}
    # the simulator planted the class object off the image centre and drew fixations around it: a
    # compatibility that knows the true class (the classifier baseline: the same suppression maps,
    # scored by the joint image embeddings' class log-probability) finds it, the centre prior does not.
    # The EEG-driven map is only as good as the EEG's class evidence; on this tiny realistic simulation
    # (band-passed files without the block offsets) it does not beat the centre prior, so that is not
    # asserted (test_map_finds_the_region_the_score_depends_on checks the map on a known score).
    for metric in ("s_auc", "nss", "cc"):
        assert m[f"baseline/classifier/{metric}"] > m[f"baseline/centre/{metric}"], (metric, m)
    assert m["baseline/classifier/s_auc"] > 0.6 and abs(m["baseline/centre/s_auc"] - 0.5) < 0.05
    assert all(np.isfinite(m[k]) for k in ("s_auc", "nss", "cc")) and 0 <= m["s_auc"] <= 1
    assert record.info["n_images"] == 10 and record.info["stride"] == 8
    assert record.info["sigmas_pixels"] == [3, 3, 7, 11, 23, 43]
    assert record.info["forward_passes_per_image"] == 6 * 9 * 9
    assert len(record.per_item["item_id"]) == 10 and {"centre_nss", "classifier_s_auc"} <= set(record.per_item)
    assert np.mean(record.per_item["nss"]) == pytest.approx(m["nss"])
    run = RecordStore(settings.tracking_uri).client.get_run(record.run_id)
    assert run.data.tags["bench.task"] == "sal-test" and "baseline/centre/nss" in run.data.metrics
    comparison = compare(report.records, "sal-test", "sal-trained", "sal-one-epoch", metric="s_auc")
    assert comparison.n_units == 1 and comparison.mean_a == pytest.approx(m["s_auc"])
