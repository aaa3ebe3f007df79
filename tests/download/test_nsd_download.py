"""NSD (MindEye2 files on Hugging Face + NSD's behaviour tables): terms first, then the loader's layout."""

from __future__ import annotations

import filecmp
import json

import pytest

from bench.download.data import describe_dataset, download_dataset
from bench.download.manifest import MANIFEST
from bench.download.sources import HFFile, URLFile, find_source
from tests.download.remote import local, publish_hf
from tests.download.server import MirrorServer

pytestmark = [pytest.mark.server, pytest.mark.slow]   # simulating NSD takes ~15 s


def test_nsd_after_accepting_terms(tmp_path):
    from bench.data.simulate import SIMULATORS

    sim = SIMULATORS.get("nsd")(tmp_path / "sim", size="tiny", subjects=1, seed=0)
    mirror = tmp_path / "mirror"
    for item in find_source("nsd").select([1]):
        data = (sim / item.dest).read_bytes()
        if isinstance(item.remote, HFFile):
            publish_hf(mirror, item.remote, data)
        else:
            assert isinstance(item.remote, URLFile)
            local(mirror, item.remote.url).parent.mkdir(parents=True, exist_ok=True)
            local(mirror, item.remote.url).write_bytes(data)
    srv = MirrorServer(mirror).start()
    try:
        report = download_dataset("nsd", tmp_path / "data", subjects=[1], mirror=srv.url, accept_terms=["nsd"],
                                  progress=False, echo=lambda s: 0)
    finally:
        srv.stop()
    root = tmp_path / "data" / "nsd"
    for item in find_source("nsd").select([1]):
        assert filecmp.cmp(root / item.dest, sim / item.dest, shallow=False), item.dest
    manifest = json.loads((root / MANIFEST).read_text())
    tsv = find_source("nsd").select([1])[1]
    assert manifest["items"][tsv.dest]["checksum_origin"] == "recorded on first download"
    assert tsv.remote.url in manifest["remote"]
    info = describe_dataset(root, report.source)
    assert info["problems"] == [] and info["subjects"] == [1]
