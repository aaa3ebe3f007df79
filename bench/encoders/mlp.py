"""brain-MLP for fMRI (MindEye 1 ``BrainNetwork`` style): voxels -> hidden -> residual blocks -> D.

Architecture (MindEye 1 defaults: hidden 4096, 4 blocks, LayerNorm, GELU)::

    x (B, V) -> Linear(V -> H, no bias) -> LayerNorm -> GELU -> Dropout(0.5)
             -> n_blocks x residual [Linear(H -> H, no bias) -> LayerNorm -> GELU -> Dropout(0.15)]
             -> Linear(H -> D)

V = ``n_chans`` (the voxel count from the data). A (B, C, T) input is flattened (V = C * T), so the
MLP also runs on EEG/MEG as a baseline. ``hidden`` is a parameter so tests can stay small.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.encoders import ENCODERS
from bench.encoders.base import BrainEncoder
from bench.errors import ConfigError


class _Block(nn.Module):
    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, hidden, bias=False), nn.LayerNorm(hidden), nn.GELU(),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


@ENCODERS.register("brain-mlp", aliases=("mindeye-mlp",))
class BrainMLP(BrainEncoder):
    """MindEye-style residual MLP.

    Params: ``hidden`` (4096), ``n_blocks`` (4), ``input_dropout`` (0.5), ``dropout`` (0.15).
    """

    input_kind = "vector"

    def __init__(self, *, n_chans: int, n_outputs: int, n_times: int | None = None, sfreq: float | None = None,
                 subjects: list[int] | None = None, hidden: int = 4096, n_blocks: int = 4,
                 input_dropout: float = 0.5, dropout: float = 0.15) -> None:
        super().__init__(n_chans=n_chans, n_outputs=n_outputs, n_times=n_times, sfreq=sfreq, subjects=subjects)
        if hidden < 1 or n_blocks < 0:
            raise ConfigError(f"need hidden >= 1 and n_blocks >= 0, got hidden={hidden}, n_blocks={n_blocks}",
                              field="hidden")
        in_dim = n_chans * (n_times or 1)
        self.stem = nn.Sequential(nn.Linear(in_dim, hidden, bias=False), nn.LayerNorm(hidden), nn.GELU(),
                                  nn.Dropout(input_dropout))
        self.blocks = nn.Sequential(*(_Block(hidden, dropout) for _ in range(n_blocks)))
        self.out = nn.Linear(hidden, n_outputs)

    def forward(self, x: torch.Tensor, subject: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.blocks(self.stem(self.check_input(x))))
