"""ATM-S (Li et al. 2024, "Visual decoding and reconstruction via EEG embeddings with guided diffusion").

Architecture::

    x (B, C, T)
    channel tokens: each channel's time series is a token, Linear(T -> d_model)         (B, C, d)
    + sinusoidal positional embedding over the C channel tokens               (param, default on)
    [subject token prepended]                                             (param subject_token)
    dropout(0.25) -> 1 post-LN transformer encoder layer (4 heads, FFN 256, GELU, dropout 0.25)
    -> final LayerNorm -> drop the subject token                                       (B, C, d)
    -> NICE conv block on (B, 1, C, d) -> NICE projection head to D (see ``nice.py``)

Choices where the public code (EEG_Image_decode, ``ATMS_retrieval.py``) drifted, and what we do:

* **Positional embedding**: absent from the first upload, added in a later one. Here it is a
  parameter, ``positional_embedding`` (default ``True``): a fixed sinusoidal embedding over the
  channel-token positions 0..C-1 (the subject token gets none; it is told apart by its own vector).
* **Last channel token dropped**: the public encoder prepends the subject token and then keeps
  ``enc_out[:, :63, :]``, i.e. the subject token plus the first 62 channels; the last channel never
  reaches the conv block. Here all C channel tokens are kept and the subject token is removed
  after the transformer, so the (C, 1) spatial convolution sees every channel.
* **Subject 10 -> "shared"**: the public ``SubjectEmbedding`` has 10 rows and falls back to an
  untrained "shared" vector for any id >= 10 (so subject 10, numbered from 1, silently used an
  untrained token) and the whole batch falls back when any id is out of range. Here the encoder
  gets the list of *training* subjects and makes one token per training subject plus one
  "unknown/shared" token. The shared token is trained: with ``subject_token_dropout`` (default
  0.1) each training item uses the shared token instead of its own. Any subject not in the
  training list -- e.g. the held-out subject of a leave-one-subject-out fold, or ``subject=None``
  -- uses the shared token, per item. A held-out subject therefore never has, and never trains,
  a token of its own.
* **d_model and heads**: ATM uses d_model = T = 250 with 4 heads, which does not divide. As in the
  public iTransformer ``AttentionLayer``, queries/keys/values are projected to ``n_heads`` heads of
  width ``d_model // n_heads`` (62 for T=250, inner width 248) and the output projection maps back
  to d_model; so any d_model works with any head count and T=250 keeps ATM's 4 heads.
  ``d_model`` defaults to T (ATM); the NICE block then runs over the d_model axis exactly as in
  ATM (1440 features for T=250).
* The learnable temperature (``logit_scale``) of the public model belongs to the loss here
  (``recipe.temperature``), not to the encoder.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from bench.encoders import ENCODERS
from bench.encoders.base import BrainEncoder
from bench.encoders.nice import NiceConvBlock, NiceProjection
from bench.encoders.ops import Dropout, dropout
from bench.errors import ConfigError


def sinusoidal_embedding(n_positions: int, dim: int) -> torch.Tensor:
    """The Transformer's fixed sinusoidal table, (n_positions, dim) (odd dims handled)."""
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div[: dim // 2])
    return table.float()


class _Attention(nn.Module):
    """Multi-head self-attention with head width d_model // n_heads (iTransformer's AttentionLayer)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        inner = self.d_head * n_heads
        self.query = nn.Linear(d_model, inner)
        self.key = nn.Linear(d_model, inner)
        self.value = nn.Linear(d_model, inner)
        self.out = nn.Linear(inner, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        # One GEMM for the three projections (their weights stacked: the same function, one pass over x
        # forward and backward); the parameters stay three Linear layers (checkpoints keep their names).
        weight = torch.cat([self.query.weight, self.key.weight, self.value.weight])
        bias = torch.cat([self.query.bias, self.key.bias, self.value.bias])
        qkv = F.linear(x, weight, bias).view(b, n, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)                                            # each (B, heads, n, d_head)
        if self.training and self.dropout > 0 and x.device.type == "cpu":
            # Same math as SDPA; the CPU SDPA kernel draws its dropout mask with bernoulli_ (slow).
            attn = torch.softmax((q * self.d_head ** -0.5) @ k.transpose(-1, -2), dim=-1)
            h = dropout(attn, self.dropout) @ v
        else:
            h = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out(h.transpose(1, 2).reshape(b, n, -1))


class _EncoderLayer(nn.Module):
    """Post-LN encoder layer as in iTransformer: x = LN(x + drop(attn(x))); LN(x + drop(FFN(x)))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.attention = _Attention(d_model, n_heads, dropout)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.dropout(self.attention(x)))
        y = self.dropout(self.ff2(self.dropout(F.gelu(self.ff1(x)))))
        return self.norm2(x + y)


@ENCODERS.register("atm-s", aliases=("atms", "atm"))
class ATMS(BrainEncoder):
    """ATM-S brain encoder (see the module docstring for every choice).

    Params (``encoder.params``):
        d_model:               token width (default: n_times, as ATM).
        n_heads:               attention heads (4); head width d_model // n_heads.
        d_ff:                  FFN width (256).
        n_layers:              encoder layers (1).
        dropout:               transformer dropout (0.25).
        positional_embedding:  sinusoidal embedding over channel tokens (True).
        subject_token:         prepend a learnable subject token (True).
        subject_token_dropout: training probability of using the shared token instead (0.1).
        conv_dropout / proj_dropout: NICE block / head dropouts (0.5 / 0.5).
        impl:                  NICE block implementation, "fast", "composed" or "literal" (same function).
    """

    uses_subject = True
    min_times = 1
    non_semantic_params = ("impl",)  # the same function, implemented three ways: not in unit keys

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, d_model: int | None = None, n_heads: int = 4, d_ff: int = 256,
                 n_layers: int = 1, dropout: float = 0.25, positional_embedding: bool = True,
                 subject_token: bool = True, subject_token_dropout: float = 0.1, conv_dropout: float = 0.5,
                 proj_dropout: float = 0.5, impl: Literal["fast", "composed", "literal"] = "fast") -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects)
        assert n_times is not None
        d_model = n_times if d_model is None else int(d_model)
        if n_heads < 1 or d_model < n_heads:
            raise ConfigError(f"need 1 <= n_heads <= d_model, got n_heads={n_heads}, d_model={d_model}",
                              field="n_heads")
        if not 0.0 <= subject_token_dropout <= 1.0:
            raise ConfigError(f"subject_token_dropout must be in [0, 1], got {subject_token_dropout}",
                              field="subject_token_dropout")
        self.d_model = d_model
        self.uses_subject = bool(subject_token)  # instance flag: False when no token is used
        self.subject_token = bool(subject_token)
        self.subject_token_dropout = float(subject_token_dropout)
        self.value_embedding = nn.Linear(n_times, d_model)
        if positional_embedding:
            self.register_buffer("position", sinusoidal_embedding(n_chans, d_model), persistent=False)
        else:
            self.position = None
        if self.subject_token:
            known = sorted(self.subjects or [])
            # Subject numbers that own a token; any other number maps to the shared token.
            self.register_buffer("token_subjects", torch.tensor(known, dtype=torch.long))
            self.subject_embedding = nn.Parameter(torch.randn(len(known), d_model)) if known else None
            self.shared_token = nn.Parameter(torch.randn(1, d_model))
        self.embed_dropout = Dropout(dropout)
        self.layers = nn.ModuleList(_EncoderLayer(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.block = NiceConvBlock(n_chans, d_model, dropout=conv_dropout, impl=impl)
        self.head = NiceProjection(self.block.n_features, n_outputs, proj_dropout)

    def token_index(self, subject: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
        """Row of each item's token in ``[subject tokens..., shared]``: -1 means the shared token."""
        if subject is None or self.subject_embedding is None:
            return torch.full((batch,), -1, dtype=torch.long, device=device)
        subject = subject.to(device=device, dtype=torch.long).view(-1)
        match = subject[:, None] == self.token_subjects[None, :]
        idx = match.to(torch.int64).argmax(1)
        return torch.where(match.any(1), idx, torch.full_like(idx, -1))

    def subject_tokens(self, subject: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
        """(B, 1, d_model) tokens: own token for training subjects, shared otherwise (and on token dropout)."""
        idx = self.token_index(subject, batch, device)
        if self.training and self.subject_token_dropout > 0:
            drop = torch.rand(batch, device=device) < self.subject_token_dropout
            idx = torch.where(drop, torch.full_like(idx, -1), idx)
        shared = self.shared_token.expand(batch, -1)
        if self.subject_embedding is None:
            return shared.unsqueeze(1)
        own = self.subject_embedding[idx.clamp(min=0)]
        return torch.where((idx >= 0)[:, None], own, shared).unsqueeze(1)

    def forward(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        x = self.check_input(x)
        b = x.shape[0]
        tokens = self.value_embedding(x)                                   # (B, C, d)
        if self.position is not None:
            tokens = tokens + self.position.to(tokens.dtype)
        if self.subject_token:
            tokens = torch.cat([self.subject_tokens(subject, b, x.device).to(tokens.dtype), tokens], dim=1)
        tokens = self.embed_dropout(tokens)
        for layer in self.layers:
            tokens = layer(tokens)
        tokens = self.norm(tokens)
        if self.subject_token:
            tokens = tokens[:, 1:]                                          # all C channel tokens
        return self.head(self.block(tokens))
