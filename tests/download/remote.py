"""Publish simulated datasets into a mirror tree exactly as the real hosts serve them.

Paths come from the source table itself (``bench.download.sources``): the Hugging Face ``resolve``
addresses and tree-API listings, the OSF API listings (``api.osf.io/v2/nodes/<node>/files/
osfstorage/``, JSON:API with ``extra.hashes.sha256`` and ``links.download``) with the files at their
``osf.io/download/<id>/`` links, and figshare's article file list with its ``ndownloader`` links.
Archives are packed as published: ``training_images.zip`` holding ``training_images/...``,
``sub-XX.zip`` holding ``sub-XX/...``, the MEG tarball holding its epochs in nested folders.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from bench.download.sources import FigshareFile, HFFile, OSFFile


def local(mirror_root: Path, url: str) -> Path:
    """Where the mirror tree keeps ``url`` (folders as ``index.html``)."""
    parts = urlsplit(url)
    path = Path(mirror_root) / parts.netloc / parts.path.lstrip("/")
    return path / "index.html" if url.endswith("/") else path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def zip_folder(folder: Path, arcroot: str) -> bytes:
    """A zip of ``folder``'s files under ``arcroot/`` (sorted, fixed timestamps: same bytes every time)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{arcroot}/{f.relative_to(folder).as_posix()}", date_time=(2022, 1, 1, 0, 0, 0))
            zf.writestr(info, f.read_bytes())
    return buf.getvalue()


def publish_hf(mirror_root: Path, remote: HFFile, data: bytes, lfs: bool = True) -> None:
    _write(local(mirror_root, remote.url), data)
    listing = local(mirror_root, remote.listing_url)
    entries = json.loads(listing.read_text()) if listing.is_file() else []
    entry = {"type": "file", "path": remote.path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
    if lfs:
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    entries = [e for e in entries if e["path"] != remote.path] + [entry]
    _write(listing, json.dumps(entries).encode())


def publish_osf(mirror_root: Path, remote: OSFFile, data: bytes) -> None:
    fid = hashlib.sha1(f"{remote.node}/{remote.path}".encode()).hexdigest()[:24]
    download = f"https://osf.io/download/{fid}/"
    _write(local(mirror_root, download), data)
    listing = local(mirror_root, remote.listing_url)
    page = json.loads(listing.read_text()) if listing.is_file() else {"data": [], "links": {"next": None}}
    page["data"] = [e for e in page["data"] if e["attributes"]["name"] != remote.path] + [{
        "id": fid, "type": "files",
        "attributes": {"kind": "file", "name": remote.path, "path": f"/{fid}", "materialized_path": f"/{remote.path}",
                       "size": len(data), "extra": {"hashes": {"md5": hashlib.md5(data).hexdigest(),
                                                               "sha256": hashlib.sha256(data).hexdigest()}}},
        "links": {"download": download}}]
    _write(listing, json.dumps(page).encode())


def publish_figshare(mirror_root: Path, remote: FigshareFile, data: bytes) -> None:
    download = f"https://ndownloader.figshare.com/files/{remote.file_id}"
    _write(local(mirror_root, download), data)
    _write(local(mirror_root, remote.listing_url), json.dumps([{
        "id": remote.file_id, "name": remote.name, "size": len(data), "is_link_only": False,
        "download_url": download, "supplied_md5": "", "computed_md5": hashlib.md5(data).hexdigest()}]).encode())


def tar_members(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()
