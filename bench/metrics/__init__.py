"""Metrics: a functional core (pure functions on numpy arrays / torch tensors) and their registry.

Modules
-------
``reconstruction``  PixCorr, SSIM, two-way identification, correlation distance, N-way top-k,
                    Inception Score (MindEye / mind-vis conventions, PROTOCOLS.md section 4).
``saliency``        NSS, CC, fixation density, shuffled AUC (MIT saliency benchmark recipes).
``features``        the feature extractors behind AlexNet(2)/(5), Inception, CLIP, EffNet-B, SwAV,
                    the N-way ImageNet classifier and the IS logits, and ``reconstruction_scores``.

Every named metric is registered in :data:`METRICS` with what a leaderboard needs to display it::

    from bench.metrics import METRICS
    info = METRICS.get("alexnet2")
    info.higher_is_better, info.chance, info.ceiling    # True, 0.5, 1.0

Adding a metric is one decorator in a module of this package, either on a function::

    @METRICS.register("top1", higher_is_better=True, chance=1 / 200, ceiling=1.0,
                      description="...", recipe="...")
    def top1(...): ...

(the function is returned unchanged; the registry stores a :class:`MetricInfo` wrapping it), or on a
ready :class:`MetricInfo` (``METRICS.register("name")(MetricInfo(...))``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from bench.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric: the function and how to read its number.

    name:             registry name ("pixcorr", "alexnet2", "s_auc", ...).
    fn:               the function computing it (its docstring documents inputs and outputs).
    higher_is_better: direction of improvement.
    chance:           expected value for unrelated predictions, when defined (None otherwise).
    ceiling:          best attainable value, when defined (None otherwise).
    description:      one line for tables and pages.
    recipe:           the reference recipe it reproduces (paper / code and the variant).
    inputs:           what ``fn`` takes, in words (e.g. "gt_images, rec_images (N, 3, H, W) in [0, 1]").
    """

    name: str
    fn: Callable[..., Any]
    higher_is_better: bool = True
    chance: float | None = None
    ceiling: float | None = None
    description: str = ""
    recipe: str = ""
    inputs: str = ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


class MetricRegistry(Registry[MetricInfo]):
    """The metric registry: ``register`` accepts a function (wrapped in a MetricInfo) or a MetricInfo."""

    def register(self, name: str, *, aliases: tuple[str, ...] = (), higher_is_better: bool = True,
                 chance: float | None = None, ceiling: float | None = None, description: str = "",
                 recipe: str = "", inputs: str = "") -> Callable[[Any], Any]:
        store = super().register(name, aliases=aliases)

        def decorate(obj: Any) -> Any:
            if isinstance(obj, MetricInfo):
                info = obj if obj.name == name else replace(obj, name=name)
                store(info)
                return obj
            if not callable(obj):
                raise TypeError(f"metric '{name}' must be a function or a MetricInfo, got {type(obj).__name__}")
            doc = (obj.__doc__ or "").strip().splitlines()
            store(MetricInfo(name=name, fn=obj, higher_is_better=higher_is_better, chance=chance,
                             ceiling=ceiling, description=description or (doc[0] if doc else ""),
                             recipe=recipe, inputs=inputs))
            return obj

        return decorate


METRICS: MetricRegistry = MetricRegistry("metric", "bench.metrics")

__all__ = ["METRICS", "MetricInfo", "MetricRegistry"]
