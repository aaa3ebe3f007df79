"""Resumable, verified, atomic HTTP downloads (``requests`` + HTTP range requests + ``tqdm``).

    result = download(url, dest, Expected(size=..., sha256=...), mirror=None)

- **Resumable**: bytes go to ``<dest>.part``; a later call (or a retry after a dropped connection)
  asks for ``Range: bytes=<have>-`` and appends. A server that ignores the range (``200``) restarts
  the file from zero. A partial file is never taken for a whole one: only a complete, verified
  ``.part`` is renamed to ``dest`` (atomic ``os.replace``).
- **Verified**: size and SHA-256 (and MD5 where that is what the host publishes) are computed while
  writing (a resumed file's existing bytes are hashed first) and compared with :class:`Expected`.
  A mismatch deletes the ``.part`` and fetches once more from zero; a second mismatch is an error.
- **Mirror**: ``mirror_url(url, mirror)`` maps ``https://host/path`` to ``<mirror>/host/path`` (the
  layout ``wget -x`` writes), so one mirror serves every host; the tests' loopback server uses it.
- Errors are :class:`DownloadError` naming the URL (and the mirror URL actually asked) and the fix.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.errors import BenchError

CHUNK = 1 << 20
NET_CHUNK = 1 << 16    # network reads: a dropped connection loses at most this much
TIMEOUT = (10, 60)   # connect, read (seconds)
USER_AGENT = "brainvis-bench-downloader"


class DownloadError(BenchError):
    """A remote file could not be fetched or failed verification."""


@dataclass(frozen=True)
class Expected:
    """What the finished file must be. ``origin`` says where the checksum came from."""

    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    origin: str = "none"


@dataclass(frozen=True)
class Fetched:
    """A finished download: the file, its size and SHA-256, and how many bytes came over the wire."""

    path: Path
    size: int
    sha256: str
    transferred: int


def mirror_url(url: str, mirror: str | None) -> str:
    """``url`` as served by ``mirror`` (``<mirror>/<host>/<path>[?query]``), or ``url`` itself."""
    if not mirror:
        return url
    parts = urlsplit(url)
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    return f"{mirror.rstrip('/')}/{parts.netloc}{tail}"


def session():
    """A ``requests`` session with the harness's user agent."""
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = USER_AGENT
    return s


def _reason(exc: Exception) -> str:
    """A connection error's gist (``[Errno 111] Connection refused``), not urllib3's whole chain."""
    found = re.search(r"\[Errno -?\d+\][^'\")]*", str(exc))
    return f"{type(exc).__name__}: " + (found.group(0).strip() if found else str(exc)[:200])


def _where(url: str, asked: str) -> str:
    return url if asked == url else f"{url} (asked as {asked})"


def http_error(url: str, asked: str, status: int, reason: str = "") -> DownloadError:
    """The error for an HTTP status: what happened, the URL, the fix."""
    if status in (401, 403):
        fix = ("the host refuses access: the file may need a login, a licence step or a token; see the "
               "source's page (`bench data download --list` prints them)")
    elif status == 404:
        fix = ("the file is not (or no longer) at this address: check the source table "
               "bench/download/sources.py against the host's page, or use --mirror URL / BENCH_MIRROR "
               "pointing at a copy")
    elif status >= 500:
        fix = "the server failed: re-run the same command later; finished files are kept and partial ones resume"
    else:
        fix = "re-run the same command; if it persists, download the file by hand and place it as documented"
    return DownloadError(f"HTTP {status} {reason}".rstrip() + f" for {_where(url, asked)}", fix=fix)


def get_json(url: str, *, mirror: str | None = None, http=None) -> Any:
    """GET ``url`` (through ``mirror``) and parse JSON; DownloadError naming the URL otherwise."""
    import requests

    asked = mirror_url(url, mirror)
    http = http or session()
    try:
        r = http.get(asked, timeout=TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise DownloadError(f"cannot reach {_where(url, asked)}: {_reason(exc)}",
                            fix="check the network (or the --mirror address) and re-run") from None
    if r.status_code >= 400:
        raise http_error(url, asked, r.status_code, r.reason or "")
    try:
        return r.json()
    except ValueError:
        raise DownloadError(f"{_where(url, asked)} did not return JSON (content-type "
                            f"{r.headers.get('Content-Type')!r})",
                            fix="the host's file API changed or the mirror lacks this listing; re-run later "
                                "or place the files by hand") from None


class _Digest:
    """SHA-256 (and MD5) of the bytes of the ``.part`` file, kept in step with what is written."""

    def __init__(self, md5: bool) -> None:
        self.with_md5 = md5
        self.reset()

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5() if self.with_md5 else None
        self.n = 0

    def update(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        if self.md5 is not None:
            self.md5.update(chunk)
        self.n += len(chunk)

    def sync(self, part: Path) -> None:
        """Hash ``part`` from its start unless the digest already covers exactly its bytes."""
        size = part.stat().st_size if part.exists() else 0
        if self.n == size:
            return
        self.reset()
        if size:
            with part.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    self.update(chunk)


def _progress(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm import tqdm

    # tqdm shows size, rate and ETA with these units
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                disable=not enabled, dynamic_ncols=True, leave=True)


def _attempt(url: str, asked: str, part: Path, expected: Expected, http, progress: bool, desc: str,
             digest: _Digest) -> int:
    """One GET (resuming ``part``); returns bytes received. Raises requests errors on a dropped connection."""
    have = part.stat().st_size if part.exists() else 0
    if expected.size is not None and have > expected.size:
        part.unlink()
        have = 0
    digest.sync(part)
    if expected.size is not None and have == expected.size and have > 0:
        return 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    got = 0
    with http.get(asked, stream=True, timeout=TIMEOUT, headers=headers) as r:
        if r.status_code == 416 and have:   # nothing left to send: the part may already be whole
            return 0
        if r.status_code >= 400:
            raise http_error(url, asked, r.status_code, r.reason or "")
        mode = "ab"
        if have and r.status_code != 206:    # the server ignored the range: start over
            have, mode = 0, "wb"
        elif have:
            start = r.headers.get("Content-Range", "").split(" ")[-1].split("-")[0]
            if start.isdigit() and int(start) != have:
                have, mode = 0, "wb"
        if mode == "wb":
            digest.reset()
        length = r.headers.get("Content-Length")
        total = expected.size if expected.size is not None else (have + int(length) if length else None)
        with part.open(mode) as fh, _progress(total, have, desc, progress) as bar:
            for chunk in r.iter_content(NET_CHUNK):
                if chunk:
                    fh.write(chunk)
                    digest.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
    return got


def download(url: str, dest: Path, expected: Expected = Expected(), *, mirror: str | None = None, http=None,
             progress: bool = True, desc: str | None = None, retries: int = 5) -> Fetched:
    """Fetch ``url`` to ``dest`` (resuming ``dest.part``), verify it against ``expected``, rename into place."""
    import requests

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    asked = mirror_url(url, mirror)
    http = http or session()
    desc = desc or dest.name
    transferred = 0
    for round_ in range(2):        # the second round only after a checksum mismatch (fresh download)
        failures = 0
        digest = _Digest(md5=bool(expected.md5))   # hashed while written: no second pass over the file
        while True:
            try:
                transferred += _attempt(url, asked, part, expected, http, progress, desc, digest)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                failures += 1
                if failures > retries:
                    have = part.stat().st_size if part.exists() else 0
                    raise DownloadError(
                        f"connection to {_where(url, asked)} failed {failures} times ({_reason(exc)}); "
                        f"{have} bytes kept in {part}",
                        fix="re-run the same command: the download resumes from there") from None
                time.sleep(min(2 ** (failures - 1), 10) * 0.1)
                continue
            have = part.stat().st_size if part.exists() else 0
            if expected.size is not None and have < expected.size:
                failures += 1                   # the server closed early without an error: resume
                if failures > retries:
                    raise DownloadError(f"{_where(url, asked)} ended after {have} of {expected.size} bytes",
                                        fix="re-run the same command: the download resumes from there")
                continue
            break
        digest.sync(part)   # a no-op unless the file changed behind our back
        size = digest.n
        sha = digest.sha256.hexdigest()
        problems = []
        if expected.size is not None and size != expected.size:
            problems.append(f"size {size} != expected {expected.size}")
        if expected.sha256 and sha != expected.sha256.lower():
            problems.append(f"sha256 {sha} != expected {expected.sha256}")
        if expected.md5 and digest.md5.hexdigest() != expected.md5.lower():
            problems.append(f"md5 {digest.md5.hexdigest()} != expected {expected.md5}")
        if not problems:
            os.replace(part, dest)
            return Fetched(dest, size, sha, transferred)
        part.unlink()
        if round_ == 1:
            raise DownloadError(f"{_where(url, asked)} failed verification twice: {'; '.join(problems)} "
                                f"(checksum from {expected.origin})",
                                fix="the remote file changed or the copy served is corrupt: try later or another "
                                    "--mirror; if the file legitimately changed, delete the dataset folder's "
                                    ".bench-download.json entry for it and re-run")
    raise AssertionError("unreachable")


__all__ = ["DownloadError", "Expected", "Fetched", "download", "get_json", "mirror_url", "session", "http_error"]
