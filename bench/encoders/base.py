"""The brain-encoder interface: braindecode's ``EEGModuleMixin`` idea, trimmed to what we need.

Every encoder takes the same keyword *signal parameters*, filled from the data by name (never by
position, never typed by hand in a submission):

``n_chans``    channels (EEG/MEG) or voxels (fMRI),
``n_times``    samples per item (``None`` for fMRI vectors),
``sfreq``      sampling rate in Hz (``None`` when unknown / fMRI),
``n_outputs``  embedding size D (the image model's embedding size unless the recipe says otherwise),
``subjects``   the subject numbers the encoder is *trained* on (only subject-aware encoders use it;
               a held-out subject is never in this list).

``forward(x, subject=None)`` maps ``x`` of shape (B, n_chans, n_times) -- or (B, n_chans) for
vector encoders -- and an optional LongTensor (B,) of subject numbers to a (B, n_outputs) float
embedding. Encoders that ignore the subject accept and ignore it, so the training loop calls every
encoder the same way.

Example::

    >>> enc = NICE(n_chans=63, n_times=250, sfreq=250.0, n_outputs=768)
    >>> enc(torch.randn(8, 63, 250)).shape
    torch.Size([8, 768])
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from torch import nn

from bench.encoders import SIGNAL_PARAMS  # noqa: F401  (re-exported; defined torch-free in the package)
from bench.errors import ConfigError


class BrainEncoder(nn.Module):
    """Base class of every brain encoder (registered in :data:`bench.encoders.ENCODERS`).

    Subclasses call ``super().__init__(n_chans=..., n_times=..., sfreq=..., n_outputs=...,
    subjects=...)`` first; the values are checked and stored as attributes of the same names.

    Class attributes:
        uses_subject: the encoder reads ``subject`` in ``forward`` (subject tokens, per-subject layers).
        input_kind:   ``"timeseries"`` (x is (B, C, T); ``n_times`` required) or ``"vector"``
                      (x is (B, V); a (B, C, T) input is flattened when ``n_times`` is given).
        min_times:    the shortest ``n_times`` the architecture accepts.
        non_semantic_params: constructor parameters that cannot change results (e.g. an
                      implementation switch computing the same function); left out of unit keys.
                      Write it as a literal tuple so it can be read without importing torch.
    """

    uses_subject: ClassVar[bool] = False
    input_kind: ClassVar[Literal["timeseries", "vector"]] = "timeseries"
    min_times: ClassVar[int] = 1
    non_semantic_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None,
                 sfreq: float | None = None, subjects: list[int] | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(n_chans, int) or isinstance(n_chans, bool) or n_chans < 1:
            raise ConfigError(f"{name}: n_chans must be a positive int, got {n_chans!r}", field="n_chans",
                              fix="n_chans comes from the data (BrainData.shape); check the loaded signals")
        if not isinstance(n_outputs, int) or isinstance(n_outputs, bool) or n_outputs < 1:
            raise ConfigError(f"{name}: n_outputs must be a positive int, got {n_outputs!r}",
                              field="recipe.embed_dim", fix="use the image model's embedding size")
        if self.input_kind == "timeseries":
            if n_times is None:
                raise ConfigError(f"{name} needs time series (B, channels, times) but the data have no time axis",
                                  field="encoder.name", fix="use a vector encoder (e.g. 'brain-mlp') for fMRI data")
            if not isinstance(n_times, int) or isinstance(n_times, bool) or n_times < self.min_times:
                raise ConfigError(f"{name} needs at least {self.min_times} samples per item, got n_times={n_times!r}",
                                  field="dataset.time_window",
                                  fix="use a longer time window or a higher sampling rate "
                                      f"(>= {self.min_times} samples)")
        elif n_times is not None and (not isinstance(n_times, int) or n_times < 1):
            raise ConfigError(f"{name}: n_times must be a positive int or None, got {n_times!r}", field="n_times")
        if sfreq is not None and (not isinstance(sfreq, (int, float)) or not math.isfinite(sfreq) or sfreq <= 0):
            raise ConfigError(f"{name}: sfreq must be a positive number or None, got {sfreq!r}", field="sfreq")
        if subjects is not None:
            subjects = [int(s) for s in subjects]
            if len(set(subjects)) != len(subjects):
                raise ConfigError(f"{name}: duplicate subjects {subjects}", field="subjects")
        self.n_chans = n_chans
        self.n_outputs = n_outputs
        self.n_times = n_times
        self.sfreq = float(sfreq) if sfreq is not None else None
        self.subjects = subjects

    # ------------------------------------------------------------------ helpers for subclasses
    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Validate ``x`` against the signal parameters; returns it (flattened for vector encoders)."""
        if self.input_kind == "timeseries":
            if x.ndim != 3 or x.shape[1] != self.n_chans or x.shape[2] != self.n_times:
                raise ValueError(f"{type(self).__name__} expects input (batch, {self.n_chans}, {self.n_times}), "
                                 f"got {tuple(x.shape)}")
            return x
        expected = self.n_chans * (self.n_times or 1)
        if x.ndim > 2:
            x = x.flatten(1)
        if x.ndim != 2 or x.shape[1] != expected:
            raise ValueError(f"{type(self).__name__} expects input (batch, {expected}), got {tuple(x.shape)}")
        return x

    def forward(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def extra_repr(self) -> str:
        return (f"n_chans={self.n_chans}, n_times={self.n_times}, sfreq={self.sfreq}, "
                f"n_outputs={self.n_outputs}, subjects={self.subjects}")


def n_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
