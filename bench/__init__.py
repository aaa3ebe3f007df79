"""brainvis-bench: benchmark suite and leaderboard harness for visual decoding from brain signals.

Data flows one way: config -> data -> image embeddings -> training -> evaluation -> records ->
statistics -> pages. Every layer is importable and usable from Python; the CLI is a thin shell.
"""

__version__ = "0.1.0"
#: Part of every unit key: bumped whenever what a unit computes, or how its key is made, changes, so
#: records of an older harness are never reused (they stay readable and show under another key).
#: 0.2.0: keys hash the *resolved* specs (protocol and plug-in parameters with defaults written out).
#: 0.3.0: training numerics changed (NICE block chunked on the CPU with ELU via exp, dropout masks from 8 bytes
#: per draw, one stacked GEMM for ATM-S's q/k/v): same functions, other rounding and random streams.
#: 0.3.1: every CPU ELU of the NICE/ATM-S blocks via exp in cache-sized pieces (also at 2 threads and under
#: bf16 autocast; torch's expm1 kernel was 10x slower on an EPYC), and the chunked block's window Gram matrix
#: from lagged products: other rounding, same function.
HARNESS_VERSION = "0.3.1"
