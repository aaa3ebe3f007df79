"""Factorial analysis: numbers equal statsmodels/scipy on the same data, planted effects are found,
no effect gives no more false positives than alpha, incomplete designs are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.analysis.factorial import design_table, factorial, interaction_plot, rm_anova
from bench.errors import RecordError
from tests.analysis.records import factorial_records


def _rm_anova_by_hand(long: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Two-way within-subject ANOVA from sums of squares (Maxwell & Delaney ch. 12), 2 x 2 design."""
    from scipy import stats

    y = long.pivot_table(index="block", columns=["encoder", "image_model"], values="value").to_numpy()
    n = y.shape[0]
    y = y.reshape(n, 2, 2)
    g = y.mean()
    out = {}
    a, b, s = y.mean(axis=(0, 2)), y.mean(axis=(0, 1)), y.mean(axis=(1, 2))
    sa = y.mean(axis=2)                          # subject x A
    sb = y.mean(axis=1)
    ss_a = n * 2 * ((a - g) ** 2).sum()
    ss_as = 2 * ((sa - a[None] - s[:, None] + g) ** 2).sum()
    ss_b = n * 2 * ((b - g) ** 2).sum()
    ss_bs = 2 * ((sb - b[None] - s[:, None] + g) ** 2).sum()
    ab = y.mean(axis=0)
    inter = ab - a[:, None] - b[None] + g
    ss_ab = n * (inter ** 2).sum()
    resid = y - sa[:, :, None] - sb[:, None, :] - ab[None] + a[None, :, None] + b[None, None, :] + s[:, None, None] - g
    ss_abs = (resid ** 2).sum()
    for name, ss, sse in (("encoder", ss_a, ss_as), ("image_model", ss_b, ss_bs), ("encoder:image_model", ss_ab, ss_abs)):
        f = ss / (sse / (n - 1))
        out[name] = (f, float(stats.f.sf(f, 1, n - 1)))
    return out


def test_anova_matches_sums_of_squares_and_contrasts_match_scipy():
    from scipy import stats

    records = factorial_records(np.random.default_rng(0), image_effect=0.03, interaction=0.01)
    res = factorial(records, "t-demo")
    assert res.block == "subject" and res.n_blocks == 8 and res.metric == "top1"
    hand = _rm_anova_by_hand(res.data)
    for e in res.effects:
        f, p = hand[e.term]
        assert e.f == pytest.approx(f, rel=1e-8) and e.p == pytest.approx(p, rel=1e-6)
        assert e.partial_eta_sq == pytest.approx(f / (f + e.df_den))
    # the image-model contrast: per-subject marginal difference, t CI equals scipy's one-sample CI
    long = res.data
    marg = long.groupby(["block", "image_model"])["value"].mean().unstack()
    d = (marg["random-convnet"] - marg["pixels-colour-texture"]).to_numpy()
    ci = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    c = next(c for c in res.contrasts if c.term == "image_model")
    assert c.estimate == pytest.approx(d.mean()) and (c.ci_low, c.ci_high) == pytest.approx((ci.low, ci.high))
    assert c.dz == pytest.approx(d.mean() / d.std(ddof=1))
    # the 2x2 interaction F equals the square of the one-sample t of the difference of differences
    inter = next(c for c in res.contrasts if c.term == "encoder:image_model")
    e = next(e for e in res.effects if e.term == "encoder:image_model")
    assert e.f == pytest.approx((inter.dz * np.sqrt(inter.n)) ** 2, rel=1e-8)


def test_mixed_model_matches_statsmodels_on_the_same_data():
    import statsmodels.formula.api as smf

    records = factorial_records(np.random.default_rng(1), image_effect=0.05)
    res = factorial(records, "t-demo")
    frame = res.data.rename(columns={"encoder": "enc", "image_model": "img"})
    ref = smf.mixedlm("value ~ C(enc) * C(img)", frame, groups=frame["block"]).fit(reml=True)
    ours = [v["estimate"] for v in res.mixed["fixed"].values()]
    np.testing.assert_allclose(ours, ref.fe_params.to_numpy(), rtol=1e-6, atol=1e-9)
    assert res.mixed["block_variance"] == pytest.approx(float(ref.cov_re.iloc[0, 0]), rel=1e-4, abs=1e-9)
    key = next(k for k in res.mixed["fixed"] if k.startswith("image_model[") and ":" not in k)
    assert res.mixed["fixed"][key]["ci_low"] > 0                            # +5 points, CI excludes 0


def test_planted_image_model_effect_is_found_and_no_interaction():
    res = factorial(factorial_records(np.random.default_rng(2), image_effect=0.05), "t-demo")
    assert res.significant("image_model") and not res.significant("encoder:image_model")
    c = next(c for c in res.contrasts if c.term == "image_model")
    assert c.ci_low < 0.05 < c.ci_high and c.ci_low > 0
    assert "image_model: F(1, 7)" in res.text()


def test_no_effect_no_false_positives_beyond_alpha():
    """120 null designs: each term's rejection rate at alpha=0.05 stays within the binomial 99.9% bound."""
    from scipy import stats

    from bench.analysis.factorial import design_table

    rng = np.random.default_rng(3)
    n_sim, hits = 120, {"encoder": 0, "image_model": 0, "encoder:image_model": 0}
    long, _, _ = design_table(factorial_records(rng, n_subjects=6, seeds=(0,)), "t-demo")
    for _ in range(n_sim):
        sim = long.copy()
        subject = dict(zip(sorted(sim["block"].unique()), rng.normal(0, 1, 6)))
        sim["value"] = rng.normal(0, 1, len(sim)) + sim["block"].map(subject).to_numpy()
        for e in rm_anova(sim, ["encoder", "image_model"]):
            hits[e.term] += e.p < 0.05
    bound = stats.binom.ppf(0.999, n_sim, 0.05)
    assert all(h <= bound for h in hits.values()), hits
    assert sum(hits.values()) > 0                                           # the test can reject at all


def test_incomplete_and_unbalanced_designs_are_refused():
    records = factorial_records(np.random.default_rng(4))
    no_cell = [r for r in records if r.submission != "atm-s-random-convnet"]
    with pytest.raises(RecordError, match=r"cell \(encoder=atm-s, image_model=random-convnet\) has no complete entry"):
        design_table(no_cell, "t-demo")
    partial = [r for r in records if not (r.submission == "nice-random-convnet" and r.subject == 3 and r.seed == 1)]
    with pytest.raises(RecordError, match=r"'nice-random-convnet' is incomplete: .*sub-03/seed1"):
        design_table(partial, "t-demo")
    with pytest.raises(RecordError, match="does not declare"):
        design_table(records, "t-demo", ["encoder", "loss"])
    # a tag factor: alignment crosses encoder as well
    res = factorial(records, "t-demo", ["encoder", "alignment"], mixed=False)
    assert res.levels["alignment"] == ["aligned", "none"]


def test_interaction_plot_writes_a_png(tmp_path):
    res = factorial(factorial_records(np.random.default_rng(5), image_effect=0.05), "t-demo", mixed=False)
    out = interaction_plot(res, tmp_path / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_page_data_states_why_a_design_is_not_shown():
    from bench.leaderboard.analyses import factorial_view

    records = factorial_records(np.random.default_rng(6), image_effect=0.05)
    page = factorial_view(records, "t-demo")
    assert page.available and {e.term for e in page.result.effects} >= {"encoder", "image_model"}
    assert page.result.mixed["fixed"]                                        # the page shows the mixed model too
    missing = factorial_view([r for r in records if r.submission != "nice-pixels-colour-texture"], "t-demo")
    assert not missing.available and missing.result is None
    assert any("encoder=nice, image_model=pixels-colour-texture" in m for m in missing.missing), missing.missing
