"""The published leaderboard: a static site built from records, with statistics and provenance.

>>> from bench.leaderboard import build_site, build_site_from_mlflow, build_site_from_snapshot
>>> build_site(records, "leaderboard/site")                      # records: list[Record]
>>> build_site_from_mlflow("sqlite:///mlflow.db", "leaderboard/site", correction="bh")
>>> build_site_from_snapshot("results.json", "leaderboard/site")

Modules: ``data`` (records -> tables, tiers, comparisons), ``reported`` (paper numbers with their
provenance), ``plots`` (matplotlib -> SVG), ``templates`` + ``render`` (Jinja2, autoescaped),
``site`` (the writer), ``sources`` (MLflow / snapshots / import into a store).
"""

from bench.leaderboard.reported import ReportedNumber, load_reported
from bench.leaderboard.site import build_site
from bench.leaderboard.sources import (ImportReport, build_site_from_mlflow, build_site_from_snapshot,
                                       import_into_store, load_sources)

__all__ = ["ImportReport", "ReportedNumber", "build_site", "build_site_from_mlflow", "build_site_from_snapshot",
           "import_into_store", "load_reported", "load_sources"]
