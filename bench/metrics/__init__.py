"""Metrics: a functional core (pure functions on numpy arrays / torch tensors) and their registry.

Modules
-------
``retrieval``       top-k, k-way and batch-wise retrieval accuracy from ranks / similarities.
``classification``  top-1 classification accuracy (``eeg_top1``, ``image_top1``).
``reconstruction``  PixCorr, SSIM, two-way identification, correlation distance, N-way top-k,
                    Inception Score (MindEye / mind-vis conventions, PROTOCOLS.md section 4).
``saliency``        NSS, CC, fixation density, shuffled AUC (MIT saliency benchmark recipes).
``features``        the feature extractors behind AlexNet(2)/(5), Inception, CLIP, EffNet-B, SwAV,
                    the N-way ImageNet classifier and the IS logits, and ``reconstruction_scores``.
``reported``        the numbers records carry that no single function computes: training curves
                    (``val_loss`` ...), ``control/...`` diagnostics, ``inception_score_std``.

The registry is the one source of what a number *means*: direction, whether it is a fraction shown
in percent, chance and ceiling. Pages, the CLI and config validation all read it through
:func:`metric_info`, which also resolves the decorated names records use::

    >>> info = metric_info("last_epoch/kway/50/top1")       # the same metric at the last epoch
    >>> info.higher_is_better, info.percent, info.chance
    (True, True, 0.02)
    >>> metric_info("effnet").higher_is_better                # a distance: lower is better
    False

Decorations: ``last_epoch/<m>`` (the last epoch's checkpoint), ``baseline/<name>/<m>`` (a baseline
scored like the model), ``<m>/sub-XX`` (one subject of a pooled unit).

Adding a metric is one decorator in a module of this package, either on a function::

    @METRICS.register("top1", higher_is_better=True, chance=1 / 200, ceiling=1.0, percent=True,
                      description="...", recipe="...")
    def top1(...): ...

(the function is returned unchanged; the registry stores a :class:`MetricInfo` wrapping it), or on a
ready :class:`MetricInfo` (``METRICS.register("name")(MetricInfo(...))``). A family of names sharing
a prefix (``control/...``) is one :meth:`MetricRegistry.register_family` call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable

from bench.errors import RegistryError
from bench.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    """A registered metric: the function and how to read its number.

    name:             registry name ("pixcorr", "alexnet2", "s_auc", ...).
    fn:               the function computing it (its docstring documents inputs and outputs); None for
                      numbers no single function computes (training curves, control diagnostics).
    higher_is_better: direction of improvement.
    chance:           expected value for unrelated predictions, when defined (None otherwise, e.g.
                      when it depends on the task's gallery or class count: see ``TaskKind.chance``).
    ceiling:          best attainable value, when defined (None otherwise).
    description:      one line for tables and pages.
    recipe:           the reference recipe it reproduces (paper / code and the variant).
    inputs:           what ``fn`` takes, in words (e.g. "gt_images, rec_images (N, 3, H, W) in [0, 1]").
    percent:          the value is a fraction in [0, 1], shown in percent on pages and in the CLI.
    """

    name: str
    fn: Callable[..., Any] | None
    higher_is_better: bool = True
    chance: float | None = None
    ceiling: float | None = None
    description: str = ""
    recipe: str = ""
    inputs: str = ""
    percent: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fn is None:
            raise TypeError(f"metric '{self.name}' is reported by the task, not computed by a function")
        return self.fn(*args, **kwargs)


class MetricRegistry(Registry[MetricInfo]):
    """The metric registry: ``register`` accepts a function (wrapped in a MetricInfo) or a MetricInfo."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._families: dict[str, Callable[[str], MetricInfo]] = {}

    def register(self, name: str, *, aliases: tuple[str, ...] = (), higher_is_better: bool = True,
                 chance: float | None = None, ceiling: float | None = None, description: str = "",
                 recipe: str = "", inputs: str = "", percent: bool = False) -> Callable[[Any], Any]:
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
                             recipe=recipe, inputs=inputs, percent=percent))
            return obj

        return decorate

    def register_family(self, prefix: str, info: Callable[[str], MetricInfo]) -> None:
        """Every name starting with ``prefix`` (e.g. ``"control/"``) is described by ``info(name)``."""
        if prefix in self._families:
            raise RegistryError(f"metric family '{prefix}' is registered twice", fix="use another prefix")
        self._families[prefix] = info

    def family(self, name: str) -> MetricInfo | None:
        """The family entry describing ``name`` (longest matching prefix), or None."""
        self.discover()
        prefixes = sorted((p for p in self._families if name.startswith(p)), key=len, reverse=True)
        return self._families[prefixes[0]](name) if prefixes else None

    def families(self) -> list[str]:
        self.discover()
        return sorted(self._families)


METRICS: MetricRegistry = MetricRegistry("metric", "bench.metrics", group="metrics", symbol="METRICS")

_DECORATIONS = (
    (re.compile(r"^last_epoch/(?P<base>.+)$"), "at the last epoch"),
    (re.compile(r"^baseline/[^/]+/(?P<base>.+)$"), "of a baseline"),
    (re.compile(r"^(?P<base>.+)/sub-\d+$"), "of one subject"),
)


def metric_info(name: str) -> MetricInfo:
    """What the metric ``name`` (as stored in records, decorations included) means.

    Raises :class:`~bench.errors.RegistryError` (listing the known names) for an unknown metric.

    >>> metric_info("top1").percent, metric_info("ssim").percent
    (True, False)
    >>> metric_info("eeg_top1/sub-03").name
    'eeg_top1/sub-03'
    """
    found = _lookup(name)
    if found is None:
        raise RegistryError(f"unknown metric '{name}'",
                            fix=f"use one of: {', '.join(METRICS.names())} (or a family: "
                                f"{', '.join(p + '...' for p in METRICS.families())}; decorations: "
                                "last_epoch/<m>, baseline/<name>/<m>, <m>/sub-XX)")
    return found


def _lookup(name: str) -> MetricInfo | None:
    if name in METRICS:
        return METRICS.get(name)
    for pattern, words in _DECORATIONS:
        m = pattern.match(name)
        if m:
            base = _lookup(m.group("base"))
            if base is not None:
                return replace(base, name=name, description=f"{base.description} ({words})".strip())
    return METRICS.family(name)


def is_known(name: str) -> bool:
    """True when :func:`metric_info` describes ``name``."""
    return _lookup(name) is not None


def higher_is_better(name: str, default: bool = True) -> bool:
    """Direction of ``name`` from the registry (``default`` for an unknown metric)."""
    info = _lookup(name)
    return default if info is None else info.higher_is_better


def is_percent(name: str) -> bool:
    """``name`` is a fraction in [0, 1] shown in percent (False for an unknown metric)."""
    info = _lookup(name)
    return bool(info and info.percent)


__all__ = ["METRICS", "MetricInfo", "MetricRegistry", "higher_is_better", "is_known", "is_percent", "metric_info"]
