"""`bench data download` against a real HTTP server on loopback serving simulated files at the real paths."""

from __future__ import annotations

import filecmp
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from bench.download import data as data_mod
from bench.download.archives import unpack
from bench.download.data import describe_dataset, download_dataset
from bench.download.http import DownloadError, Expected, download, mirror_url
from bench.download.manifest import MANIFEST
from bench.download.sources import HFFile, Item, OSFFile, Source, URLFile, Unpack, find_source
from bench.errors import ConfigError, DataError
from tests.download.conftest import SUBJECTS
from tests.download.remote import local

pytestmark = pytest.mark.server

TRAIN_250 = "Preprocessed_data_250Hz/sub-01/preprocessed_eeg_training.npy"


def _route(url: str) -> str:
    """The path the loopback server sees for a real ``url``."""
    return "/" + mirror_url(url, "http://x").split("/", 3)[3]


def _same_tree(a: Path, b: Path, rel: str) -> None:
    files = sorted(p.relative_to(a / rel) for p in (a / rel).rglob("*") if p.is_file())
    assert files, f"nothing under {a / rel}"
    for f in files:
        assert filecmp.cmp(a / rel / f, b / rel / f, shallow=False), f


def _get(dataset="things-eeg2", **kw):
    kw.setdefault("progress", False)
    kw.setdefault("echo", lambda s: None)
    if dataset == "things-eeg2":
        kw.setdefault("subjects", SUBJECTS)   # the simulated remote has these
    return download_dataset(dataset, **kw)


def test_full_download_into_empty_root_passes_info(server, tmp_path, eeg2_sim):
    report = _get(data_root=tmp_path / "data", variant="250hz", mirror=server.url)
    root = tmp_path / "data" / "things-eeg2"
    assert report.root == root and len(report.fetched) == 2 * len(SUBJECTS) + 3 and not report.skipped
    info = describe_dataset(root, report.source)
    assert info["problems"] == [] and info["subjects"] == list(SUBJECTS) and info["variant"] == "250hz"
    assert info["images"]["train"]["count"] == 32 and info["images"]["test"]["count"] == 10
    for rel in ("Preprocessed_data_250Hz", "training_images", "test_images"):
        _same_tree(eeg2_sim["250hz"], root, rel)
    assert not list(root.rglob("*.part")) and not list(root.glob("*.zip"))   # no partial files, archives removed
    manifest = json.loads((root / MANIFEST).read_text())
    rec = manifest["items"][TRAIN_250]
    assert rec["checksum_origin"].startswith("published by Hugging Face")
    assert manifest["items"]["training_images.zip"]["checksum_origin"].startswith("published by OSF")


def test_cli_downloads_official_100hz_zips_and_ends_with_info(server, tmp_path, eeg2_sim, monkeypatch):
    from typer.testing import CliRunner

    from bench.cli import app

    monkeypatch.setenv("BENCH_MIRROR", server.url)          # the `mirror` setting
    result = CliRunner().invoke(app, ["data", "download", "things-eeg2", "--variant", "100hz", "--subjects", "2",
                                      "--data-root", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "bench data info" in result.output and "problems: none" in result.output
    root = tmp_path / "things-eeg2"
    _same_tree(eeg2_sim["100hz"], root, "preprocessed_data/sub-02")
    assert not (root / "preprocessed_data" / "sub-01").exists()
    assert [g for g in server.gets() if "anp5v" in g[1] or "download" in g[1]]   # via the OSF listing + links


def test_second_run_downloads_nothing(server, tmp_path):
    _get(data_root=tmp_path, variant="250hz", mirror=server.url)
    server.log.clear()
    report = _get(data_root=tmp_path, variant="250hz", mirror=server.url)
    assert report.fetched == [] and report.transferred == 0 and len(report.skipped) == 2 * len(SUBJECTS) + 3
    assert server.log == []          # not even a listing was asked for


def test_killed_download_resumes_with_identical_bytes(server, tmp_path, eeg2_sim):
    remote = HFFile("LidongYang/EEG_Image_decode", TRAIN_250)
    route = _route(remote.url)
    source = eeg2_sim["250hz"] / TRAIN_250
    cut = source.stat().st_size // 2
    server.faults[route] = {"drop_after": cut, "times": 1}
    dest = tmp_path / "x.npy"
    with pytest.raises(DownloadError) as err:       # a run that dies half-way (no retries left)
        download(remote.url, dest, Expected(size=source.stat().st_size), mirror=server.url, progress=False,
                 retries=0)
    assert "resumes" in str(err.value) and remote.url in str(err.value)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size
    assert 0 < have <= cut and not dest.exists()                 # a partial file is never the file
    fetched = download(remote.url, dest, Expected(size=source.stat().st_size), mirror=server.url, progress=False)
    assert server.gets(route)[-1][2] == f"bytes={have}-"         # asked for the rest only
    assert fetched.transferred == source.stat().st_size - have
    assert dest.read_bytes() == source.read_bytes() and not part.exists()


def test_host_ignoring_ranges_and_stale_partial_files(server, tmp_path, eeg2_sim):
    remote = HFFile("LidongYang/EEG_Image_decode", TRAIN_250)
    source = (eeg2_sim["250hz"] / TRAIN_250).read_bytes()
    dest = tmp_path / "x.npy"
    dest.with_name("x.npy.part").write_bytes(b"stale bytes of another file")
    server.faults[_route(remote.url)] = {"ignore_range": True}
    fetched = download(remote.url, dest, Expected(size=len(source)), mirror=server.url, progress=False)
    assert server.gets()[-1][2] == "bytes=27-" and fetched.transferred == len(source)   # 200 -> started over
    assert dest.read_bytes() == source
    dest.unlink()
    dest.with_name("x.npy.part").write_bytes(b"\0" * 1000)     # a stale prefix, range honoured this time
    server.faults.clear()
    download(remote.url, dest, Expected(size=len(source), sha256=hashlib.sha256(source).hexdigest(), origin="t"),
             mirror=server.url, progress=False)
    assert dest.read_bytes() == source                         # wrong prefix caught by the checksum, refetched


def test_dropped_connections_resume_within_one_run(server, tmp_path, eeg2_sim):
    route = _route(HFFile("LidongYang/EEG_Image_decode", TRAIN_250).url)
    server.faults[route] = {"drop_after": 100_000, "times": 3}
    _get(data_root=tmp_path, variant="250hz", subjects=[1], mirror=server.url)
    ranges = [g[2] for g in server.gets(route)]
    assert len(ranges) == 4 and ranges[0] is None                 # then three resumptions, each further on
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert 0 < starts[0] < starts[1] < starts[2]
    assert filecmp.cmp(tmp_path / "things-eeg2" / TRAIN_250, eeg2_sim["250hz"] / TRAIN_250, shallow=False)


def test_corrupted_files_are_detected_and_refetched(server, tmp_path, eeg2_sim):
    _get(data_root=tmp_path, variant="250hz", subjects=[1], mirror=server.url)
    root = tmp_path / "things-eeg2"
    eeg = root / TRAIN_250
    with eeg.open("r+b") as fh:                    # same size, different bytes
        fh.seek(1000)
        fh.write(b"\0" * 16)
    image = next((root / "test_images").rglob("*.jpg"))
    image.write_bytes(b"not a jpeg")
    report = _get(data_root=tmp_path, variant="250hz", subjects=[1], mirror=server.url)
    assert set(report.refetched) == {TRAIN_250, "test_images.zip"}
    assert "sha256" in " ".join(report.refetched[TRAIN_250])
    assert sorted(report.fetched) == sorted([TRAIN_250, "test_images.zip"])
    assert filecmp.cmp(eeg, eeg2_sim["250hz"] / TRAIN_250, shallow=False)
    _same_tree(eeg2_sim["250hz"], root, "test_images")


def test_complete_archive_left_by_a_stopped_run_is_unpacked_not_refetched(server, mirror_tree, tmp_path):
    listing = json.loads(local(mirror_tree, OSFFile("y63gw", "x").listing_url).read_text())
    entry = next(e for e in listing["data"] if e["attributes"]["name"] == "test_images.zip")
    root = tmp_path / "things-eeg2"
    root.mkdir()
    (root / "test_images.zip").write_bytes(local(mirror_tree, entry["links"]["download"]).read_bytes())
    report = _get(data_root=tmp_path, variant="images", mirror=server.url)
    assert "test_images.zip" in report.fetched and (root / "test_images").is_dir()
    assert not server.gets(_route(entry["links"]["download"]))      # verified against OSF's sha256, reused


def test_corrupt_transfer_is_refetched_then_refused(server, tmp_path, eeg2_sim):
    route = _route(HFFile("LidongYang/EEG_Image_decode", TRAIN_250).url)
    server.faults[route] = {"corrupt": 1}
    _get(data_root=tmp_path, variant="250hz", subjects=[1], mirror=server.url)
    assert len(server.gets(route)) == 2            # checksum mismatch -> fetched again from zero
    assert filecmp.cmp(tmp_path / "things-eeg2" / TRAIN_250, eeg2_sim["250hz"] / TRAIN_250, shallow=False)
    server.faults[route] = {"corrupt": 2}
    with pytest.raises(DownloadError, match="failed verification twice"):
        download(HFFile("LidongYang/EEG_Image_decode", TRAIN_250).url, tmp_path / "again.npy",
                 Expected(sha256="0" * 64, origin="test"), mirror=server.url, progress=False)


@pytest.mark.parametrize("status,words", [(500, "server failed"), (404, "not (or no longer) at this address")])
def test_server_error_or_missing_file_gives_one_clear_message(server, tmp_path, monkeypatch, capsys, status, words):
    url = HFFile("LidongYang/EEG_Image_decode", TRAIN_250).url
    server.faults[_route(url)] = {"status": status}
    monkeypatch.setattr(sys, "argv", ["bench", "data", "download", "things-eeg2", "--subjects", "1",
                                      "--data-root", str(tmp_path), "--mirror", server.url, "--quiet"])
    from bench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "Traceback" not in err
    assert f"HTTP {status}" in err and url in err and "fix:" in err and words in err


def test_file_missing_from_the_hosts_listing_is_named(server, tmp_path, monkeypatch):
    source = Source("things-eeg2", "x", "test", SUBJECTS, lambda s: [Item(OSFFile("y63gw", "nope.zip"), "nope.zip")], "t")
    monkeypatch.setattr(data_mod, "find_source", lambda *a, **k: source)
    with pytest.raises(DownloadError) as err:
        _get(data_root=tmp_path, mirror=server.url)
    assert "nope.zip" in str(err.value) and "api.osf.io/v2/nodes/y63gw" in str(err.value)
    assert "https://osf.io/y63gw" in str(err.value)


def test_free_disk_space_is_checked_first(server, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DataError, match="not enough free disk space"):
        _get(data_root=tmp_path, variant="250hz", mirror=server.url)
    assert not server.gets("resolve/main/" + TRAIN_250)          # nothing fetched


def test_unpublished_checksum_is_recorded_then_enforced(server, mirror_tree, tmp_path, monkeypatch):
    url = "https://example.org/files/extra.bin"
    target = local(mirror_tree, url)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"first version" * 1000)
    source = Source("things-eeg2", "x", "test", SUBJECTS, lambda s: [Item(URLFile(url), "extra.bin")], "t")
    monkeypatch.setattr(data_mod, "find_source", lambda *a, **k: source)
    report = _get(data_root=tmp_path, mirror=server.url)
    assert report.fetched == ["extra.bin"] and any("no published checksum" in n for n in report.notes)
    manifest = json.loads((tmp_path / "things-eeg2" / MANIFEST).read_text())
    assert manifest["remote"][url]["size"] == 13000
    try:
        target.write_bytes(b"other version" * 1000)                   # same size, other bytes
        (tmp_path / "things-eeg2" / "extra.bin").unlink()
        with pytest.raises(DownloadError, match="failed verification twice"):
            _get(data_root=tmp_path, mirror=server.url)
    finally:
        target.unlink()


def test_unsafe_archive_members_are_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("training_images/../../evil.txt", "x")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="outside the destination"):
        unpack(tmp_path / "a.zip", tmp_path / "root", Unpack(top="training_images"))
    assert not (tmp_path / "evil.txt").exists()


def test_licence_and_manual_steps_say_exactly_what_to_do(tmp_path):
    with pytest.raises(DataError) as err:
        _get("nsd", data_root=tmp_path)
    assert "naturalscenesdataset.org" in str(err.value) and "--accept-terms nsd" in str(err.value)
    report = _get("imagenet-eeg", data_root=tmp_path)
    assert report.fetched == [] and len(report.manual_pending) == 1
    text = report.manual_pending[0]
    assert "tinyurl.com/eeg-visual-classification" in text and str(tmp_path / "imagenet-eeg") in text
    for name in ("eeg_5_95_std.pth", "block_splits_by_image_all.pth", "images/n01/n01_1.JPEG"):
        (tmp_path / "imagenet-eeg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "imagenet-eeg" / name).write_bytes(b"x")
    assert _get("imagenet-eeg", data_root=tmp_path).manual_pending == []


def test_source_table_lookups():
    assert find_source("things_eeg2").variant == "250hz"
    assert find_source("things-eeg2", "100hz").select([3])[0].dest == "preprocessed_data/sub-03.zip"
    with pytest.raises(ConfigError, match="no subject"):
        find_source("things-eeg2").select([11])
    with pytest.raises(ConfigError, match="variant"):
        find_source("things-eeg2", "1khz")


def test_one_downloader_per_dataset_folder(tmp_path):
    import fcntl

    root = tmp_path / "things-eeg2"
    root.mkdir()
    with open(root / data_mod.LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(DataError, match="another `bench data download`"):
            _get(data_root=tmp_path, mirror="http://127.0.0.1:9")
