"""Unit keys: a content hash of everything that determines a unit's result.

key = hash(resolved task spec, resolved submission spec, split, seed, data checksum,
           image-model weights checksum, harness version)

The key is the MLflow tag ``bench.key``; resume skips units whose key already has a finished run,
and any change of config, data file or weight file gives a new key (never a stale result).
"""

from __future__ import annotations

from bench import HARNESS_VERSION
from bench.config.hashing import content_hash


def unit_key(*, task_hash: str, submission_hash: str, split: str, seed: int, data_checksum: str,
             weights_checksum: str, harness_version: str = HARNESS_VERSION) -> str:
    """The unit's content key (32 hex characters)."""
    return content_hash({"task": task_hash, "submission": submission_hash, "split": split, "seed": seed,
                         "data": data_checksum, "weights": weights_checksum, "harness": harness_version},
                        length=32)


def code_version() -> str:
    """The git commit of the harness (with '+dirty' when the tree has changes), or the package version."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"brainvis-bench=={HARNESS_VERSION}"
