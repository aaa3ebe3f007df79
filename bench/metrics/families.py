"""Numbers records carry that no single metric function computes, registered for display.

- training curves at the chosen epoch (validation-only mode reports them): ``train_loss``,
  ``val_loss`` (lower is better) and ``val_top1`` (validation retrieval/classification top-1);
- ``control/...``: block-design confound diagnostics of the classification task
  (``bench/tasks/controls.py``): accuracies of control probes (fractions, lower = fewer confounds),
  their p-values (``..._p``) and the flag;
- ``inception_score_std``: the spread of the Inception Score over its splits.
"""

from __future__ import annotations

from bench.metrics import METRICS, MetricInfo

for _name, _higher, _percent, _text in (
        ("train_loss", False, False, "training loss at the chosen epoch"),
        ("val_loss", False, False, "validation loss at the chosen epoch (checkpoint selection)"),
        ("val_top1", True, True, "validation top-1 at the chosen epoch (checkpoint selection)"),
        ("inception_score_std", False, False, "standard deviation of the Inception Score over its splits")):
    METRICS.register(_name)(MetricInfo(name=_name, fn=None, higher_is_better=_higher, percent=_percent,
                                       description=_text, recipe="reported by the task kind"))


def _control(name: str) -> MetricInfo:
    """``control/<probe>_top1`` accuracies and ``control/chance`` are fractions; ``..._p`` are p-values."""
    p_value = name.endswith("_p")
    flag = name.endswith("confound_flag")
    what = ("p-value of a confound probe" if p_value else "confound flag (1 = fires)" if flag
            else "confound-probe accuracy (diagnostic)")
    return MetricInfo(name=name, fn=None, higher_is_better=p_value, percent=not (p_value or flag),
                      ceiling=1.0, description=what, recipe="bench/tasks/controls.py")


METRICS.register_family("control/", _control)
