"""Palazzo et al. 2020 (TPAMI) recurrent EEG encoder: dilated 1-D convs -> LSTM/GRU -> linear.

Architecture::

    x (B, C, T) -> 4 x [Conv1d(k=3, dilation d, 'same' padding) -> BatchNorm1d -> ReLU]
                   with 32, 64, 96, 128 filters and dilations 1, 2, 4, 8
                -> LSTM or GRU (1 layer, hidden 256) over time -> last hidden state
                -> Linear(256 -> D)            (D = 128 in the paper's joint space)

The paper gives filter counts, kernel size 3 and "dilated"; the dilation schedule (doubling) and
the BatchNorm after each conv are our choices, documented here and overridable
(``dilations``, ``batch_norm``).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

from bench.encoders import ENCODERS
from bench.encoders.base import BrainEncoder
from bench.errors import ConfigError


@ENCODERS.register("palazzo-rnn", aliases=("palazzo-lstm",))
class PalazzoRNN(BrainEncoder):
    """Dilated conv front-end + recurrent encoder.

    Params: ``cell`` ("lstm" | "gru"), ``hidden_size`` (256), ``filters`` ((32, 64, 96, 128)),
    ``kernel_size`` (3), ``dilations`` ((1, 2, 4, 8)), ``batch_norm`` (True), ``dropout`` (0.0,
    before the output layer).
    """

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, cell: Literal["lstm", "gru"] = "lstm", hidden_size: int = 256,
                 filters: Sequence[int] = (32, 64, 96, 128), kernel_size: int = 3,
                 dilations: Sequence[int] = (1, 2, 4, 8), batch_norm: bool = True, dropout: float = 0.0) -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects)
        if cell not in ("lstm", "gru"):
            raise ConfigError(f"cell must be 'lstm' or 'gru', got {cell!r}", field="cell")
        if len(filters) != len(dilations):
            raise ConfigError(f"filters {list(filters)} and dilations {list(dilations)} differ in length",
                              field="dilations")
        layers: list[nn.Module] = []
        in_ch = n_chans
        for out_ch, dil in zip(filters, dilations):
            layers.append(nn.Conv1d(in_ch, out_ch, kernel_size, dilation=dil, padding=dil * (kernel_size - 1) // 2))
            if batch_norm:
                layers.append(nn.BatchNorm1d(out_ch))
            layers.append(nn.ReLU())
            in_ch = out_ch
        self.convs = nn.Sequential(*layers)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.cell = cell
        self.rnn = rnn(in_ch, hidden_size, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, n_outputs)

    def forward(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        h = self.convs(self.check_input(x))                    # (B, F, T')
        _, state = self.rnn(h.transpose(1, 2))
        last = state[0] if self.cell == "lstm" else state       # (1, B, H)
        return self.out(self.dropout(last[-1]))
