"""Fixtures: simulated THINGS-EEG2 (micro) published under the real remote paths, and a loopback server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.download.sources import HFFile, OSFFile, find_source
from tests.download.remote import publish_hf, publish_osf, zip_folder
from tests.download.server import MirrorServer

SUBJECTS = (1, 2)


@pytest.fixture(scope="session")
def eeg2_sim(tmp_path_factory) -> dict[str, Path]:
    """The simulator's THINGS-EEG2 in both variants (micro, 2 subjects, same images)."""
    from bench.data.simulate import SIMULATORS

    base = tmp_path_factory.mktemp("eeg2-sim")
    out = {}
    for variant in ("250hz", "100hz"):
        out[variant] = SIMULATORS.get("things-eeg2")(base / variant, size="micro", subjects=len(SUBJECTS), seed=0,
                                                      variant=variant)
    return out


@pytest.fixture(scope="session")
def mirror_tree(tmp_path_factory, eeg2_sim) -> Path:
    """A mirror tree holding the THINGS-EEG2 sources of the table (250 Hz on HF, OSF zips, OSF images)."""
    root = tmp_path_factory.mktemp("mirror")
    sim250, sim100 = eeg2_sim["250hz"], eeg2_sim["100hz"]
    for variant in ("250hz", "100hz"):
        for item in find_source("things-eeg2", variant).select(SUBJECTS):
            r = item.remote
            if isinstance(r, HFFile):
                publish_hf(root, r, (sim250 / item.dest).read_bytes())
            elif isinstance(r, OSFFile) and r.path.startswith("sub-"):
                sub = r.path.removesuffix(".zip")
                publish_osf(root, r, zip_folder(sim100 / "preprocessed_data" / sub, sub))
            elif isinstance(r, OSFFile) and r.path.endswith(".zip"):
                folder = r.path.removesuffix(".zip")
                publish_osf(root, r, zip_folder(sim250 / folder, folder))
            else:
                publish_osf(root, r, (sim250 / r.path).read_bytes())
    return root


@pytest.fixture
def server(mirror_tree):
    srv = MirrorServer(mirror_tree).start()
    yield srv
    srv.stop()
