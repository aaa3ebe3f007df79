"""THINGS-MEG: figshare's tarball (nested folders) unpacked flat into the loader's layout; images by hand."""

from __future__ import annotations

import filecmp
import shutil

import pytest

from bench.download.data import describe_dataset, download_dataset
from bench.download.sources import find_source
from tests.download.remote import publish_figshare, tar_members
from tests.download.server import MirrorServer

pytestmark = [pytest.mark.server, pytest.mark.slow]   # simulating MEG epochs takes ~10 s


def test_things_meg_tarball_then_manual_images(tmp_path):
    from bench.data.simulate import SIMULATORS

    sim = SIMULATORS.get("things-meg")(tmp_path / "sim", size="micro", subjects=1, seed=0)
    item = find_source("things-meg").select(None)[0]
    epochs = (sim / "preprocessed_P1-epo.fif").read_bytes()
    publish_figshare(tmp_path / "mirror", item.remote, tar_members({
        "THINGS-MEG_preproc/LOCAL/preprocessed_P1-epo.fif": epochs,
        "THINGS-MEG_preproc/LOCAL/README.txt": b"not kept"}))
    srv = MirrorServer(tmp_path / "mirror").start()
    try:
        report = download_dataset("things-meg", tmp_path / "data", mirror=srv.url, progress=False, echo=lambda s: 0)
    finally:
        srv.stop()
    root = tmp_path / "data" / "things-meg"
    assert filecmp.cmp(root / "preprocessed_P1-epo.fif", sim / "preprocessed_P1-epo.fif", shallow=False)
    assert not (root / "README.txt").exists() and not (root / "THINGS-MEG_preproc.tar.gz").exists()
    assert len(report.manual_pending) == 1 and "osf.io/jum2f" in report.manual_pending[0]
    for folder in ("images_meg", "images_test_meg"):       # the user's manual step
        shutil.copytree(sim / folder, root / folder)
    again = download_dataset("things-meg", tmp_path / "data", progress=False, echo=lambda s: 0)
    assert again.manual_pending == [] and again.fetched == []
    info = describe_dataset(root, again.source)
    assert info["problems"] == [] and info["subjects"] == [1]
