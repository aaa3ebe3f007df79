"""brainvis-bench: benchmark suite and leaderboard harness for visual decoding from brain signals.

Data flows one way: config -> data -> image embeddings -> training -> evaluation -> records ->
statistics -> pages. Every layer is importable and usable from Python; the CLI is a thin shell.
"""

__version__ = "0.1.0"
HARNESS_VERSION = __version__
