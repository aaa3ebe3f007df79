from __future__ import annotations

import pytest

from tests.tuning.tiny import shared_cache


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory):
    return shared_cache(tmp_path_factory)



# ---- a private PostgreSQL cluster on loopback (Debian's server binaries; ci/install-system.sh) -----

from tests.scaleout.pg import PG_PASSWORD, PG_USER, Postgres, available, start_postgres  # noqa: E402,F401


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL cluster on 127.0.0.1 (password auth over TCP), stopped afterwards."""
    pytest.importorskip("psycopg")
    if not available():
        pytest.skip("PostgreSQL server binaries not installed (run ci/install-system.sh)")
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
