"""The download manifest of one dataset folder: ``<data_root>/<dataset>/.bench-download.json``.

It records, per item of the source table (keyed by its ``dest``), the files it put in place with
their size, SHA-256 and modification time, and, per remote URL, the size and SHA-256 seen on the
first download when the host publishes no checksum (later downloads are held to them). A file whose
size and modification time are unchanged is not re-hashed (``verify=True`` forces it).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = ".bench-download.json"
VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Manifest:
    root: Path
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / MANIFEST

    @classmethod
    def load(cls, root: Path) -> "Manifest":
        path = Path(root) / MANIFEST
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                return cls(Path(root), dict(data.get("items") or {}), dict(data.get("remote") or {}))
            except ValueError:
                pass   # unreadable: start over (every file is then checked against the host again)
        return cls(Path(root))

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"version": VERSION, "items": self.items, "remote": self.remote},
                                  indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

    # ---------------------------------------------------------------------------------- files
    def file_record(self, rel: str, size: int | None = None, sha256: str | None = None) -> dict[str, Any]:
        """A record of ``root/rel`` as it is now (hashing it unless ``sha256`` is given)."""
        path = self.root / rel
        st = path.stat()
        if size is not None and size != st.st_size:
            raise ValueError(f"{path}: size {st.st_size} != {size}")
        return {"size": st.st_size, "sha256": sha256 or sha256_file(path), "mtime_ns": st.st_mtime_ns}

    def check_files(self, files: dict[str, dict[str, Any]], verify: bool = False) -> list[str]:
        """Problems of recorded files (missing, size, checksum); [] when all are intact.

        The SHA-256 is recomputed when the size or modification time changed, or with ``verify``.
        """
        problems = []
        for rel, rec in files.items():
            path = self.root / rel
            if not path.is_file():
                problems.append(f"{rel}: missing")
                continue
            st = path.stat()
            if st.st_size != rec["size"]:
                problems.append(f"{rel}: size {st.st_size} != recorded {rec['size']}")
                continue
            if verify or st.st_mtime_ns != rec.get("mtime_ns"):
                sha = sha256_file(path)
                if sha != rec["sha256"]:
                    problems.append(f"{rel}: sha256 {sha[:16]}... != recorded {rec['sha256'][:16]}...")
                    continue
                rec["mtime_ns"] = st.st_mtime_ns   # same content, touched: remember the new time
        return problems

    def record_item(self, dest: str, url: str, files: dict[str, dict[str, Any]], origin: str) -> None:
        self.items[dest] = {"url": url, "files": files, "checksum_origin": origin,
                            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def record_remote(self, url: str, size: int, sha256: str) -> None:
        self.remote[url] = {"size": size, "sha256": sha256,
                            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


__all__ = ["MANIFEST", "Manifest", "sha256_file"]
