"""``bench store prune|claims``: housekeeping of the MLflow record store.

    bench store prune --dry-run                 # list what would go (failed/killed and superseded runs)
    bench store prune --failed                  # delete failed and killed unit runs only
    bench store prune --stale                   # delete runs of superseded keys and duplicates only
    bench store claims                          # units being run now (and expired claims)

Deletion is MLflow's soft delete (the runs leave every search, `bench results` and the pages);
`mlflow gc --backend-store-uri URI` removes them for good.
"""

from __future__ import annotations

from typing import Optional

import typer

from bench.cli.common import TrackingUri, make_settings


def register(app: typer.Typer) -> None:
    """Add the ``store`` command group to the main app."""
    group = typer.Typer(help="Housekeeping of the record store: prune failed/stale runs, list claims.",
                        no_args_is_help=True, add_completion=False)

    @group.command("prune")
    def prune_cmd(
        failed: bool = typer.Option(False, "--failed", help="failed and killed unit runs"),
        stale: bool = typer.Option(False, "--stale",
                                   help="runs superseded by a newer finished run of the same unit (another key: "
                                        "changed config/data/weights; or the same key: a duplicate)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="list the runs, delete nothing"),
        tracking_uri: Optional[str] = TrackingUri,
    ) -> None:
        """Delete failed or superseded unit runs (both kinds when neither flag is given)."""
        from bench.records.mlflow_store import RecordStore

        if not failed and not stale:
            failed = stale = True
        store = RecordStore(make_settings(tracking_uri).tracking_uri, create=False)
        store.reap()  # runs of dead processes become KILLED first, so --failed sees them
        items = store.prune_candidates(failed=failed, stale=stale)
        for item in items:
            typer.echo(f"{item.run_id}  {item.label}  [{item.reason}]")
        if dry_run:
            typer.echo(f"{len(items)} run(s) would be deleted from {store.display_uri} (dry run: nothing deleted)")
            return
        n = store.delete_runs(i.run_id for i in items)
        typer.echo(f"deleted {n} run(s) from {store.display_uri}"
                   + (" (soft delete; `mlflow gc` purges them)" if n else ""))

    @group.command("claims")
    def claims_cmd(tracking_uri: Optional[str] = TrackingUri) -> None:
        """Units claimed by a worker now (live) or left behind by a dead one (expired; taken over on demand)."""
        from bench.records.claims import describe
        from bench.records.mlflow_store import RecordStore

        store = RecordStore(make_settings(tracking_uri).tracking_uri, create=False)
        claims = store.claims.all()
        for key, claim in sorted(claims.items(), key=lambda kv: kv[1].heartbeat):
            typer.echo(f"{key[:12]}  {claim.label}  [{describe(claim)}]")
        typer.echo(f"{len(claims)} claim(s) in {store.display_uri}")

    app.add_typer(group, name="store")
