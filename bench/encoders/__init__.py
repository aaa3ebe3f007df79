"""Brain encoders: one module per architecture, registered by name, built from the data's shape.

>>> enc = build_encoder(ComponentSpec(name="nice"), {"n_chans": 63, "n_times": 250, "sfreq": 250.0},
...                     n_outputs=768)

Registered names: ``nice``, ``atm-s``, ``eegnet``, ``eegconformer``, ``shallowfbcspnet``,
``braindecode`` (any model of ``braindecode.models.util.models_dict``), ``brain-mlp``,
``palazzo-rnn``. ``ENCODERS.names()`` lists them.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Mapping

from bench.config.schema import ComponentSpec
from bench.errors import ConfigError
from bench.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from bench.encoders.base import BrainEncoder

#: The parameters an encoder receives from the data (and from the recipe for ``n_outputs``);
#: a submission may not set them in ``encoder.params``. (Defined here, torch-free, for planning code.)
SIGNAL_PARAMS = ("n_chans", "n_times", "sfreq", "n_outputs", "subjects")

# This package imports no torch: plug-ins are found by reading their decorators (bench.registry) and
# imported when first used, so `bench validate` stays light.
ENCODERS: "Registry[type[BrainEncoder]]" = Registry("brain encoder", "bench.encoders",
                                                    base="bench.encoders.base:BrainEncoder",
                                                    group="encoders", symbol="ENCODERS")


def __getattr__(name: str) -> Any:
    """``BrainEncoder`` and ``n_parameters`` import torch, so they are loaded on first access."""
    if name in ("BrainEncoder", "n_parameters"):
        from bench.encoders import base

        return getattr(base, name)
    raise AttributeError(f"module 'bench.encoders' has no attribute '{name}'")


def accepted_params(cls: type["BrainEncoder"]) -> list[str]:
    """The ``encoder.params`` names ``cls`` accepts (its keyword parameters minus the signal ones)."""
    sig = inspect.signature(cls.__init__)
    return [name for name, p in sig.parameters.items()
            if name != "self" and name not in SIGNAL_PARAMS
            and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def build_encoder(spec: ComponentSpec, shape: Mapping[str, Any], n_outputs: int,
                  subjects: list[int] | None = None, *, seed: int | None = None) -> "BrainEncoder":
    """Build the encoder ``spec.name`` for data of ``shape`` (``BrainData.shape``).

    spec:      ``encoder`` of a submission: registry name + keyword params.
    shape:     ``{"n_chans", "n_times", "sfreq"}`` from the data.
    n_outputs: embedding size D.
    subjects:  the *training* subjects (subject-aware encoders make one token/layer per subject;
               any other subject -- e.g. the held-out one -- maps to the shared token).
    seed:      when given, weights are initialised under ``torch.manual_seed(seed)`` inside a forked
               RNG, so the global RNG is left untouched and the same seed gives the same weights.

    Unknown params raise :class:`ConfigError` naming ``encoder.params.<name>`` and listing the
    accepted ones; signal params set by hand are refused (they come from the data).
    """
    cls = ENCODERS.get(spec.name)
    accepted = accepted_params(cls)
    for key in spec.params:
        if key in SIGNAL_PARAMS:
            raise ConfigError(f"'{key}' is taken from the data, not set by hand", field=f"encoder.params.{key}",
                              fix=f"remove encoder.params.{key}" + (" (set recipe.embed_dim instead)"
                                                                   if key == "n_outputs" else ""))
        if key not in accepted:
            raise ConfigError(f"unknown parameter '{key}' for encoder '{spec.name}'", field=f"encoder.params.{key}",
                              fix=f"use one of: {', '.join(accepted) or '(none)'}")
    signal = {"n_chans": shape.get("n_chans"), "n_times": shape.get("n_times"), "sfreq": shape.get("sfreq"),
              "n_outputs": n_outputs, "subjects": list(subjects) if subjects is not None else None}
    if signal["n_times"] is not None:
        signal["n_times"] = int(signal["n_times"])
    if signal["n_chans"] is not None:
        signal["n_chans"] = int(signal["n_chans"])

    def make() -> "BrainEncoder":
        try:
            return cls(**signal, **dict(spec.params))
        except ConfigError as exc:
            if exc.field and not exc.field.startswith(("encoder.", "recipe.", "dataset.")):
                exc.field = f"encoder.params.{exc.field}" if exc.field in accepted else exc.field
                exc.args = (exc._format(),)
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"could not build encoder '{spec.name}' for data of shape {dict(shape)}: {exc}",
                              field="encoder.params",
                              fix=f"check the parameters ({', '.join(accepted) or 'none'}) and the data shape") from exc

    if seed is None:
        return make()
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make()


__all__ = ["ENCODERS", "BrainEncoder", "SIGNAL_PARAMS", "accepted_params", "build_encoder", "n_parameters"]
