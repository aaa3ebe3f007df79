"""braindecode models as feature extractors: classification head removed, linear projection to D.

Never a log-softmax output as an embedding (the anchors did, which made these baselines weak):
the model's classification head is stripped and a ``Linear(features -> D)`` is trained instead.

How the head is removed, per model (braindecode 1.8, every model has ``final_layer``):

* ``eegnet`` (``EEGNet``, formerly ``EEGNetv4``): ``final_layer`` is
  ``Sequential(conv_classifier, permute_back, squeeze)``; replaced by ``Flatten`` -> the
  (F2, 1, T/32) features after the second pooling and dropout (16 x 7 = 112 for 63 x 250).
* ``shallowfbcspnet``: ``final_layer`` is ``Sequential(conv_classifier, squeeze)``; replaced by
  ``Flatten`` -> the log-power features after pooling/SafeLog/dropout (40 x 11 = 440 for 63 x 250).
* ``eegconformer``: ``final_layer`` is the last ``Linear(32 -> n_outputs)``; replaced by
  ``Identity`` -> the 32 features after the conformer's own fully connected block (ELU, dropout).
* ``braindecode`` (any ``models_dict`` name, param ``model``): ``final_layer`` is replaced by
  ``Flatten`` when that works and leaves features; models whose head cannot be detached this way
  (no ``final_layer``, a ``final_layer`` the model iterates over such as ATCNet's per-window
  heads, or an ``Identity`` one) keep their head built with ``n_outputs = D`` and it *is* the
  projection (``head: "keep"``); the choice is reported in ``head_mode``. ``head`` = "strip" /
  "keep" forces one. Any ``nn.LogSoftmax`` left inside a model is replaced by ``Identity``.

The feature size is found by one dry forward pass (eval mode, no grad) at construction.
braindecode models take ``n_chans``, ``n_outputs``, ``n_times``, ``sfreq`` by keyword (their
positional orders differ); extra constructor arguments go in ``model_params``.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import torch
from torch import nn

from bench.encoders import ENCODERS
from bench.encoders.base import BrainEncoder
from bench.errors import ConfigError


def _models_dict() -> dict[str, type[nn.Module]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from braindecode.models.util import models_dict
    return models_dict


def _remove_log_softmax(model: nn.Module) -> None:
    for name, child in model.named_children():
        if isinstance(child, nn.LogSoftmax):
            setattr(model, name, nn.Identity())
        else:
            _remove_log_softmax(child)


class BraindecodeEncoder(BrainEncoder):
    """A braindecode model with its head removed, then ``Linear(features -> n_outputs)``.

    Subclasses set ``model_name``; the generic ``braindecode`` encoder takes it as a parameter.
    """

    model_name: str = ""
    min_times = 1

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, model_params: dict[str, Any] | None = None,
                 head: Literal["auto", "strip", "keep"] = "auto", _model: str | None = None) -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects)
        name = _model or self.model_name
        models = _models_dict()
        if name not in models:
            raise ConfigError(f"unknown braindecode model '{name}'", field="model",
                              fix=f"use one of: {', '.join(sorted(models))}")
        if head not in ("auto", "strip", "keep"):
            raise ConfigError(f"head must be 'auto', 'strip' or 'keep', got {head!r}", field="head")
        self.model_name = name
        params = dict(model_params or {})
        for key in ("n_chans", "n_outputs", "n_times", "sfreq"):
            if key in params:
                raise ConfigError(f"'{key}' is taken from the data", field="model_params",
                                  fix=f"remove model_params.{key}")
        self.sfreq_used = sfreq if sfreq is not None else 250.0
        kwargs = dict(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=self.sfreq_used, **params)
        cls = models[name]

        def construct() -> nn.Module:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return cls(**kwargs)
            except Exception as exc:  # braindecode raises many kinds for impossible shapes
                raise ConfigError(f"braindecode {name} cannot be built for {n_chans} channels x {n_times} samples "
                                  f"at {self.sfreq_used} Hz: {exc}", field="model_params",
                                  fix="pick another model or adjust model_params") from exc

        backbone = construct()
        _remove_log_softmax(backbone)
        self.head_mode = "keep"
        feats: int | None = None
        if head in ("auto", "strip"):
            feats = self._try_strip(backbone, n_chans, n_times)
            if feats is None and head == "strip":
                raise ConfigError(f"the head of braindecode {name} cannot be stripped (no usable final_layer)",
                                  field="head", fix="use head: keep (the head, built with n_outputs = D, "
                                                    "is then the projection)")
        if feats is not None:
            self.head_mode = "strip"
            self.backbone = backbone
            self.projection: nn.Module = nn.Linear(feats, n_outputs)
            self.n_features = feats
        else:
            self.backbone = construct()  # fresh copy with its own head of size D
            _remove_log_softmax(self.backbone)
            self.projection = nn.Identity()
            self.n_features = n_outputs

    @staticmethod
    def _try_strip(model: nn.Module, n_chans: int, n_times: int | None) -> int | None:
        final = getattr(model, "final_layer", None)
        if final is None or isinstance(final, (nn.Identity, nn.ModuleList, nn.ModuleDict)):
            return None
        replacement = nn.Identity() if isinstance(final, nn.Linear) else nn.Flatten(1)
        model.final_layer = replacement
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = model(torch.zeros(2, n_chans, n_times or 1))
        except Exception:
            model.final_layer = final
            return None
        finally:
            model.train(was_training)
        if not isinstance(out, torch.Tensor) or out.shape[0] != 2:
            model.final_layer = final
            return None
        if out.ndim != 2:
            model.final_layer = nn.Sequential(replacement, nn.Flatten(1))
        return int(out[0].numel())

    def forward(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.backbone(self.check_input(x))
        if feats.ndim != 2:
            feats = feats.flatten(1)
        return self.projection(feats)


@ENCODERS.register("eegnet", aliases=("eegnetv4",))
class EEGNetEncoder(BraindecodeEncoder):
    """braindecode ``EEGNet`` (the old ``EEGNetv4``) + linear projection (head: see module docstring)."""

    model_name = "EEGNet"

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, model_params: dict[str, Any] | None = None) -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects,
                         model_params=model_params, head="strip")


@ENCODERS.register("eegconformer")
class EEGConformerEncoder(BraindecodeEncoder):
    """braindecode ``EEGConformer`` + linear projection (head: see module docstring)."""

    model_name = "EEGConformer"

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, model_params: dict[str, Any] | None = None) -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects,
                         model_params=model_params, head="strip")


@ENCODERS.register("shallowfbcspnet", aliases=("shallowconvnet",))
class ShallowFBCSPNetEncoder(BraindecodeEncoder):
    """braindecode ``ShallowFBCSPNet`` + linear projection (head: see module docstring)."""

    model_name = "ShallowFBCSPNet"

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, model_params: dict[str, Any] | None = None) -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects,
                         model_params=model_params, head="strip")


@ENCODERS.register("braindecode")
class GenericBraindecodeEncoder(BraindecodeEncoder):
    """Any braindecode model by name (``model: Deep4Net``), head stripped when possible.

    Params: ``model`` (a ``braindecode.models.util.models_dict`` name), ``model_params`` (extra
    constructor arguments), ``head`` ("auto" | "strip" | "keep").
    """

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, model: str = "", model_params: dict[str, Any] | None = None,
                 head: Literal["auto", "strip", "keep"] = "auto") -> None:
        if not model:
            raise ConfigError("the generic braindecode encoder needs a model name", field="model",
                              fix="set encoder.params.model, e.g. Deep4Net")
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects,
                         model_params=model_params, head=head, _model=model)
