"""MLflow as the record store: one run per unit, a parent run per ``bench evaluate`` invocation.

Each unit run carries
  tags      bench.key, bench.task, bench.submission, bench.split, bench.subject, bench.seed,
            bench.status (finished|failed), bench.harness_version, mlflow.parentRunId
  params    the resolved task and submission specs, flattened (``task.dataset.name`` ...), and provenance
  metrics   final test metrics; per-epoch curves as stepped metrics (``curve/val_loss`` ...)
  artifacts record.json (the whole :class:`Record`, authoritative for statistics), task.yaml,
            submission.yaml, per_item.csv, learning_curve.png

Works with any tracking URI (local SQLite by default, or ``http://host:port`` of ``mlflow server``).
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from bench.errors import RecordError
from bench.records.schema import Record

EXPERIMENT = "brainvis-bench"
_MAX_PARAM = 500


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        text = json.dumps(value) if not isinstance(value, str) else value
        out[prefix] = text[:_MAX_PARAM]


def _artifact_root(tracking_uri: str) -> str | None:
    """For a local SQLite store, keep artifacts beside the database (not in the working directory)."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///"):])
        return (db.parent / f"{db.stem}-artifacts").resolve().as_uri()
    return None


class RecordStore:
    """Read and write unit records in an MLflow tracking store."""

    def __init__(self, tracking_uri: str, experiment: str = EXPERIMENT) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        if tracking_uri.startswith(("http://", "https://")):
            _check_server(tracking_uri)
        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        try:
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                exp_id = self.client.create_experiment(experiment, artifact_location=_artifact_root(tracking_uri))
            else:
                exp_id = exp.experiment_id
        except Exception as exc:  # mlflow raises many types for an unreachable or broken store
            raise RecordError(f"cannot open the MLflow store at '{tracking_uri}': {exc}",
                              fix="check --tracking-uri (a sqlite:///path.db file or a running http:// server)"
                              ) from exc
        self.experiment_id = exp_id

    # ---- invocations -------------------------------------------------------------------------
    def start_invocation(self, name: str, params: dict[str, str] | None = None) -> str:
        """Create the parent run that groups one ``bench evaluate`` invocation; returns its id."""
        run = self.client.create_run(self.experiment_id, run_name=name,
                                     tags={"bench.kind": "invocation"})
        if params:
            self._log_params(run.info.run_id, params)
        return run.info.run_id

    def end_invocation(self, run_id: str, summary: dict[str, float], failed: bool = False) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in summary.items()])
        self.client.set_terminated(run_id, "FAILED" if failed else "FINISHED")

    # ---- writing -----------------------------------------------------------------------------
    def write(self, record: Record, parent_run_id: str | None = None) -> str:
        """Store one unit record as one MLflow run; returns the run id. Written only when complete."""
        from mlflow.entities import Metric, RunTag

        tags = {
            "bench.kind": "unit", "bench.key": record.key, "bench.task": record.task,
            "bench.submission": record.submission, "bench.split": record.split,
            "bench.subject": str(record.subject), "bench.seed": str(record.seed),
            "bench.status": record.status, "bench.harness_version": record.provenance.get("harness_version", ""),
        }
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=f"{record.submission}|{record.task}|"
                                     f"{record.split}|seed{record.seed}", tags=tags)
        run_id = run.info.run_id
        record.run_id = run_id
        try:
            params: dict[str, str] = {}
            _flatten("task", record.task_spec, params)
            _flatten("submission", record.submission_spec, params)
            _flatten("provenance", record.provenance, params)
            self._log_params(run_id, params)
            now = int(time.time() * 1000)
            metrics = [Metric(k.replace("@", "_at_"), float(v), now, 0) for k, v in record.metrics.items()
                       if v is not None]
            for name, series in record.curves.items():
                metrics += [Metric(f"curve/{name}", float(v), now, step) for step, v in enumerate(series, 1)
                            if v is not None]
            for start in range(0, len(metrics), 900):
                self.client.log_batch(run_id, metrics=metrics[start:start + 900])
            self.client.log_dict(run_id, record.to_dict(), "record.json")
            if record.per_item:
                self.client.log_text(run_id, _per_item_csv(record.per_item), "per_item.csv")
            import yaml

            self.client.log_text(run_id, yaml.safe_dump(record.task_spec, sort_keys=False), "task.yaml")
            self.client.log_text(run_id, yaml.safe_dump(record.submission_spec, sort_keys=False),
                                 "submission.yaml")
            if record.curves:
                fig = _curve_figure(record)
                self.client.log_figure(run_id, fig, "learning_curve.png")
                import matplotlib.pyplot as plt

                plt.close(fig)
            if record.error:
                self.client.set_tag(run_id, "bench.error", record.error[:5000])
        except Exception:
            self.client.set_terminated(run_id, "FAILED")
            self.client.set_tag(run_id, "bench.status", "failed")
            raise
        self.client.set_terminated(run_id, "FINISHED" if record.finished else "FAILED")
        return run_id

    def _log_params(self, run_id: str, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for start in range(0, len(items), 90):
            self.client.log_batch(run_id, params=items[start:start + 90])

    # ---- reading -----------------------------------------------------------------------------
    def _search(self, filter_string: str) -> list:
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string=filter_string,
                                           max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def finished_keys(self) -> set[str]:
        """Keys of units that have a finished record (what resume skips)."""
        runs = self._search("tags.`bench.kind` = 'unit' and tags.`bench.status` = 'finished' "
                            "and attributes.status = 'FINISHED'")
        return {r.data.tags["bench.key"] for r in runs}

    def records(self, *, task: str | None = None, submission: str | None = None,
                include_failed: bool = False) -> list[Record]:
        """Records stored for ``task`` / ``submission`` (latest run per key), read from record.json."""
        clauses = ["tags.`bench.kind` = 'unit'"]
        if task:
            clauses.append(f"tags.`bench.task` = '{task}'")
        if submission:
            clauses.append(f"tags.`bench.submission` = '{submission}'")
        if not include_failed:
            clauses += ["tags.`bench.status` = 'finished'", "attributes.status = 'FINISHED'"]
        runs = self._search(" and ".join(clauses))
        latest: dict[str, Any] = {}
        for run in runs:
            key = run.data.tags.get("bench.key")
            if key not in latest or run.info.start_time > latest[key].info.start_time:
                latest[key] = run
        out = []
        with tempfile.TemporaryDirectory() as tmp:
            for run in latest.values():
                try:
                    path = self.client.download_artifacts(run.info.run_id, "record.json", tmp)
                    data = json.loads(Path(path).read_text())
                except Exception as exc:
                    raise RecordError(f"run {run.info.run_id} has no readable record.json: {exc}",
                                      where=self.tracking_uri,
                                      fix="re-run that unit (delete the run) or check the artifact store") from exc
                record = Record.from_dict(data)
                record.run_id = run.info.run_id
                out.append(record)
        return sorted(out, key=lambda r: (r.task, r.submission, r.split, r.seed))


def _check_server(uri: str, timeout: float = 10.0) -> None:
    """Fail fast (instead of MLflow's minutes of retries) when a tracking server does not answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as resp:
            if resp.status == 200:
                return
    except (urllib.error.URLError, OSError) as exc:
        raise RecordError(f"the MLflow tracking server at '{uri}' does not answer ({exc})",
                          fix="start it (`mlflow server --host 127.0.0.1 --port N ...`) or correct --tracking-uri"
                          ) from None
    raise RecordError(f"the MLflow tracking server at '{uri}' is not healthy", fix="check the server's log")


def _per_item_csv(per_item: dict[str, list]) -> str:
    import pandas as pd

    buf = io.StringIO()
    pd.DataFrame(per_item).to_csv(buf, index=False)
    return buf.getvalue()


def _curve_figure(record: Record):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for name in ("train_loss", "val_loss"):
        if name in record.curves:
            axes[0].plot(range(1, len(record.curves[name]) + 1), record.curves[name], label=name)
    for name in ("val_top1",):
        if name in record.curves:
            axes[1].plot(range(1, len(record.curves[name]) + 1), record.curves[name], label=name)
    for ax in axes:
        if record.chosen_epoch:
            ax.axvline(record.chosen_epoch, color="grey", ls="--", lw=1, label="chosen (validation)")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
    axes[0].set_title("loss")
    axes[1].set_title("validation top-1")
    fig.suptitle(f"{record.submission} · {record.task} · {record.split} · seed {record.seed}", fontsize=9)
    fig.tight_layout()
    return fig


def iter_records(store: RecordStore, tasks: Iterable[str] | None = None) -> list[Record]:
    """All finished records, optionally limited to ``tasks``."""
    if tasks is None:
        return store.records()
    return [r for t in tasks for r in store.records(task=t)]
