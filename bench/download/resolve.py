"""Turn a remote of the source table into (download URL, expected size and published checksum).

The hosts' own file APIs are read at download time (through the mirror when one is set), once per
listing: OSF (``attributes.extra.hashes.sha256``, ``links.download``), Hugging Face (tree API:
``size``, ``lfs.oid`` = SHA-256 of LFS files), figshare (``computed_md5``, ``download_url``). Plain
URLs have no listing: nothing is published, so the manifest's record (if any) is all there is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.download.http import DownloadError, Expected, get_json
from bench.download.sources import FigshareFile, HFFile, OSFFile, Remote, URLFile


@dataclass(frozen=True)
class Resolved:
    """Where to GET the file and what it must be."""

    url: str
    expected: Expected
    page: str


@dataclass
class Resolver:
    """Resolves remotes, caching each host listing (``mirror`` applies to listings and downloads)."""

    mirror: str | None = None
    http: Any = None
    _cache: dict[str, Any] = field(default_factory=dict)

    def _json(self, url: str) -> Any:
        if url not in self._cache:
            self._cache[url] = get_json(url, mirror=self.mirror, http=self.http)
        return self._cache[url]

    def resolve(self, remote: Remote) -> Resolved:
        if isinstance(remote, OSFFile):
            return self._osf(remote)
        if isinstance(remote, HFFile):
            return self._hf(remote)
        if isinstance(remote, FigshareFile):
            return self._figshare(remote)
        if isinstance(remote, URLFile):
            return Resolved(remote.url, Expected(origin="none published"), remote.page)
        raise TypeError(f"unknown remote {remote!r}")

    # ------------------------------------------------------------------------------------------ OSF
    def _osf_list(self, url: str) -> list[dict]:
        entries: list[dict] = []
        while url:
            page = self._json(url)
            entries.extend(page.get("data") or [])
            url = ((page.get("links") or {}).get("next")) or ""
        return entries

    def _osf(self, remote: OSFFile) -> Resolved:
        parts = remote.path.strip("/").split("/")
        url = remote.listing_url
        for depth, name in enumerate(parts):
            entries = self._osf_list(url)
            match = next((e for e in entries if (e.get("attributes") or {}).get("name") == name), None)
            if match is None:
                names = sorted((e.get("attributes") or {}).get("name", "?") for e in entries)
                raise DownloadError(f"OSF project {remote.node} has no '{'/'.join(parts[:depth + 1])}' "
                                    f"(listing {url} holds {names[:20]})",
                                    fix=f"check {remote.page}; update bench/download/sources.py if the file moved")
            attrs = match["attributes"]
            if depth < len(parts) - 1:
                url = match["relationships"]["files"]["links"]["related"]["href"]
                continue
            hashes = (attrs.get("extra") or {}).get("hashes") or {}
            return Resolved(match["links"]["download"],
                            Expected(size=attrs.get("size"), sha256=hashes.get("sha256"), md5=hashes.get("md5"),
                                     origin=f"published by OSF ({remote.listing_url})"), remote.page)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------------------ HF
    def _hf(self, remote: HFFile) -> Resolved:
        entries = self._json(remote.listing_url)
        match = next((e for e in entries if e.get("path") == remote.path), None) if isinstance(entries, list) else None
        if match is None:
            raise DownloadError(f"{remote.repo} has no file '{remote.path}' at revision {remote.revision} "
                                f"(listing {remote.listing_url})",
                                fix=f"check {remote.page}; update bench/download/sources.py if the file moved")
        lfs = match.get("lfs") or {}
        return Resolved(remote.url, Expected(size=match.get("size"), sha256=lfs.get("oid") or lfs.get("sha256"),
                                             origin=f"published by Hugging Face ({remote.listing_url})"
                                             if lfs else "none published"), remote.page)

    # ------------------------------------------------------------------------------------------ figshare
    def _figshare(self, remote: FigshareFile) -> Resolved:
        entries = self._json(remote.listing_url)
        match = next((e for e in entries if e.get("id") == remote.file_id or e.get("name") == remote.name), None)
        if match is None:
            raise DownloadError(f"figshare article {remote.article} has no file {remote.name} "
                                f"(id {remote.file_id}; listing {remote.listing_url})",
                                fix=f"check {remote.page}; update bench/download/sources.py if the file moved")
        md5 = match.get("computed_md5") or match.get("supplied_md5")
        return Resolved(match.get("download_url") or f"https://ndownloader.figshare.com/files/{remote.file_id}",
                        Expected(size=match.get("size"), md5=md5 or None,
                                 origin=f"published by figshare ({remote.listing_url})"), remote.page)


__all__ = ["Resolved", "Resolver"]
