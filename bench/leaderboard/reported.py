"""Numbers reported in papers (``bench/leaderboard/reported/*.csv``), loaded with their provenance.

Each CSV row becomes one :class:`ReportedNumber` that knows its paper, table, source line, dataset,
task kind and scheme (parsed from the row's ``task`` text, or the ``dataset`` column). Pages show them
as "reported in <paper>, <table>", in their own rows and sections: they are never tested, never
tiered and never averaged with the harness's records (we do not have their per-seed values).

**Protocol facts.** Every row also carries how its number was made (:class:`ProtocolFacts`, from
``reported/protocols.csv``, one line per paper table, with the code lines it was read from): the
gallery (stimulus images or NICE's concept centres), the similarity (cosine, Pearson r, dot product),
where the checkpoint was selected (validation, test, last epoch, not stated), whether a k-way figure is
a single draw, an expectation or exhaustive, the MindEye batch size, and the training repetitions.
The paper CSVs stay byte-identical to the project's reference copies.

A retrieval row is shown on a task's page only when the task runs on *real* data, has the same
dataset, task kind and scheme, and its protocol matches the row's facts (:func:`protocol_mismatch`
is empty): so AlignVis's Pearson-r figures sit beside ``*-alignvis`` variant tasks, not beside the
cosine default. Rows of the same dataset/kind/scheme that do not match are returned by
:func:`reported_mismatches` with the reasons, and the page shows them as "not comparable". Other
kinds (classification, saliency, reconstruction) are matched by dataset, kind and scheme on the
default variant, as before. Every row is also listed, by dataset, on the "reported in papers" page.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from bench.errors import RecordError

REPORTED_DIR = Path(__file__).resolve().parent / "reported"
PROTOCOLS_FILE = "protocols.csv"
"""Protocol facts per (paper CSV, table): ``reported/protocols.csv``."""


@dataclass(frozen=True)
class ProtocolFacts:
    """How a paper's figure was made (one line of ``reported/protocols.csv``).

    gallery:    "stimulus", "concept-centre" (NICE) or "n/a" (not a retrieval figure).
    similarity: "cosine", "pearson", "dot-unnormalised-gallery" or "n/a".
    selection:  where the reported checkpoint was chosen: "validation", "test", "last epoch", "not stated".
    estimate:   "exhaustive" (every gallery item), "single draw" (one random k-way draw), "expectation",
                "sampled" (an average of many draws) or "n/a".
    batch_size: MindEye-style batch retrieval size, None when the figure is not batch-wise.
    train_repetitions: "average" / "single" when stated (checked against the task), else "".
    evidence:   the code lines (or text) the facts were read from.
    """

    gallery: str
    similarity: str
    selection: str
    estimate: str
    batch_size: int | None
    train_repetitions: str
    evidence: str

    @property
    def optimistic(self) -> bool:
        """Selected on the test set: the figure is optimistic by construction."""
        return self.selection == "test"

    @property
    def label(self) -> str:
        """'gallery stimulus · pearson · selected on validation · exhaustive'."""
        if self.gallery == "n/a":
            return f"selected on {self.selection}"
        parts = [f"gallery {self.gallery}", self.similarity, f"selected on {self.selection}", self.estimate]
        if self.batch_size:
            parts.append(f"batches of {self.batch_size}")
        if self.train_repetitions:
            parts.append(f"trained on {self.train_repetitions} repetitions")
        return " · ".join(parts)


@dataclass(frozen=True)
class Paper:
    """A source of reported numbers: the label shown on pages and how its CSV is laid out."""

    label: str
    layout: str          # "alignvis", "palazzo", "neuroimagen" or "atm" (column layouts of the CSVs)


PAPERS: dict[str, Paper] = {
    "alignvis_rajabi2025.csv": Paper("AlignVis", "alignvis"),
    "palazzo2020_tpami.csv": Paper("Palazzo 2020", "palazzo"),
    "neuroimagen_lan2023.csv": Paper("NeuroImagen", "neuroimagen"),
    "atm_li2024.csv": Paper("ATM", "atm"),
}

DATASET_NAMES = {"things-eeg2": "THINGS-EEG2", "things-meg": "THINGS-MEG", "nsd": "NSD (fMRI)",
                 "imagenet-eeg": "ImageNet-EEG", "other": "Other datasets"}

METRIC_LABELS = {
    "top1_acc": "top-1 (%)", "top5_acc": "top-5 (%)", "eeg_top1_acc": "EEG top-1 (%)",
    "image_top1_acc": "image top-1 (%)", "nway_top1_acc_50way": "50-way top-1 (%)", "s_auc": "s-AUC",
    "nss": "NSS", "cc": "CC", "inception_score": "Inception Score", "ssim": "SSIM", "pixcorr": "PixCorr",
    "alexnet2": "AlexNet(2)", "alexnet5": "AlexNet(5)", "inception": "Inception", "clip": "CLIP",
    "swav": "SwAV (lower is better)",
}

_ATM_METRICS = ("pixcorr", "ssim", "alexnet2", "alexnet5", "inception", "clip", "swav")


@dataclass(frozen=True)
class ReportedNumber:
    """One figure as printed in a paper.

    paper / citation / title: the label shown on pages ("AlignVis"), the short citation
                ("Rajabi et al. 2025 (ICML)") and the title, from the CSV's first row.
    table:      the paper's table ("Table 1").
    task_text:  the row's task description as written in the CSV.
    dataset / kind / scheme: parsed from ``task_text`` (``scheme`` None when the text does not say).
    metric:     the CSV's metric name (``top1_acc`` ...); accuracies are in percent, as printed.
    entry:      what was measured ("NICE · SynCLR · dreamsim"); ``subject``: "Avg.", "S3", "held-out S3", "all".
    spread:     the printed ± (None when none); ``spread_kind`` says what it is.
    value_text / spread_text: the figures exactly as written in the CSV (trailing zeros kept).
    source:     "<file>:<line>" in ``bench/leaderboard/reported/``.
    """

    paper: str
    citation: str
    title: str
    table: str
    task_text: str
    dataset: str
    kind: str | None
    scheme: str | None
    metric: str
    value: float
    spread: float | None
    spread_kind: str
    value_text: str
    spread_text: str
    entry: str
    subject: str
    note: str
    source: str
    protocol: ProtocolFacts | None = None

    @property
    def optimistic(self) -> bool:
        """The paper chose its checkpoint on the test set (the figure is optimistic by construction)."""
        return bool(self.protocol and self.protocol.optimistic)

    @property
    def label(self) -> str:
        """'reported in AlignVis (Rajabi et al. 2025 (ICML)), Table 1'."""
        return f"reported in {self.paper} ({self.citation}), {self.table}"

    @property
    def metric_label(self) -> str:
        return METRIC_LABELS.get(self.metric, self.metric)

    @property
    def is_average(self) -> bool:
        return self.subject.lower().startswith(("avg", "all"))


def dataset_key(text: str) -> str:
    """Canonical dataset key of a dataset name or a task description ('NSD-fMRI' -> 'nsd')."""
    t = text.lower()
    for needle, key in (("things-eeg", "things-eeg2"), ("things-meg", "things-meg"), ("nsd", "nsd"),
                        ("imagenet-eeg", "imagenet-eeg")):
        if needle in t:
            return key
    return "other"


def _kind(text: str) -> str | None:
    t = text.lower()
    for needle in ("retrieval", "classification", "saliency", "reconstruction"):
        if needle in t:
            return needle
    return None


def _scheme(text: str, kind: str | None) -> str | None:
    t = text.lower()
    if "cross-subject" in t or "leave-one-subject-out" in t:
        return "leave-one-subject-out"
    if "within-subject" in t or kind == "retrieval":
        return "within-subject"
    return None


def _float(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _split_citation(paper: str) -> tuple[str, str]:
    citation, _, title = paper.partition(", ")
    return citation.strip(), title.strip()


def _protocols(root: Path) -> dict[tuple[str, str], ProtocolFacts]:
    """``protocols.csv`` as {(paper file, table): facts}."""
    path = root / PROTOCOLS_FILE
    if not path.is_file():
        raise RecordError("the reported numbers' protocol facts are missing", where=path,
                          fix="reinstall brainvis-bench (protocols.csv ships beside the paper CSVs)")
    out: dict[tuple[str, str], ProtocolFacts] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                batch = row["batch_size"].strip()
                out[(row["file"], row["table"])] = ProtocolFacts(
                    gallery=row["gallery"].strip(), similarity=row["similarity"].strip(),
                    selection=row["selection"].strip(), estimate=row["estimate"].strip(),
                    batch_size=int(batch) if batch else None, train_repetitions=row["train_repetitions"].strip(),
                    evidence=row["evidence"].strip())
            except (KeyError, ValueError) as exc:
                raise RecordError(f"line {line} is malformed ({exc})", where=path,
                                  fix="columns: file,table,gallery,similarity,selection,estimate,batch_size,"
                                      "train_repetitions,evidence (batch_size an integer or empty)") from None
    return out


def _rows(path: Path, paper: Paper, facts: Mapping[tuple[str, str], ProtocolFacts] | None = None
          ) -> list[ReportedNumber]:
    with path.open(newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    if not raw:
        return []
    citation, title = _split_citation(raw[0]["paper"])
    out = []
    for line, row in enumerate(raw, start=2):
        protocol = None
        if facts is not None:
            protocol = facts.get((path.name, row["table"]))
            if protocol is None:
                raise RecordError(f"no protocol facts for {path.name}, {row['table']}",
                                  where=path.parent / PROTOCOLS_FILE, field=row["table"],
                                  fix=f"add a line '{path.name},{row['table']},...' saying how the figures were made")
        base: dict[str, Any] = dict(paper=paper.label, citation=citation, title=title, table=row["table"],
                                    note=(row.get("note") or "").strip(), source=f"{path.name}:{line}",
                                    protocol=protocol)
        if paper.layout == "atm":
            task_text = f"{row['dataset']} reconstruction"
            for metric in _ATM_METRICS:
                value = _float(row.get(metric, ""))
                if value is None:
                    continue
                out.append(ReportedNumber(**base, task_text=task_text, dataset=dataset_key(row["dataset"]),
                                          kind="reconstruction", scheme=None, metric=metric, value=value,
                                          spread=None, spread_kind="", value_text=row[metric].strip(),
                                          spread_text="", entry=row["method"],
                                          subject=f"subject {row['subject']}"))
            continue
        task_text = row["task"]
        kind = _kind(task_text)
        value = _float(row["value"])
        if value is None:
            raise RecordError(f"value '{row['value']}' is not a number", where=f"{path}:{line}", field="value",
                              fix="write the figure as printed, as a plain number")
        if paper.layout == "alignvis":
            encoder = row["row"] if row["row_kind"] == "eeg_encoder" else task_text.rsplit(", ", 1)[-1]
            subject = {"eeg_encoder": "Avg.", "test_subject": f"held-out {row['row']}"}.get(row["row_kind"], row["row"])
            entry = " · ".join(x for x in (encoder, row["image_model"], row["alignment"]) if x)
            spread, spread_kind = _float(row["spread"]), row["spread_kind"]
        elif paper.layout == "palazzo":
            entry = " × ".join(x for x in (row["eeg_encoder"], row["image_encoder"]) if x and x != "none")
            subject, spread, spread_kind = "all", None, ""
        else:  # neuroimagen
            entry, subject, spread, spread_kind = row["method"], row["subject"], None, ""
        out.append(ReportedNumber(**base, task_text=task_text, dataset=dataset_key(task_text), kind=kind,
                                  scheme=_scheme(task_text, kind), metric=row["metric"], value=value,
                                  spread=spread, spread_kind=spread_kind, value_text=row["value"].strip(),
                                  spread_text=(row.get("spread") or "").strip() if spread is not None else "",
                                  entry=entry, subject=subject))
    return out


@functools.lru_cache(maxsize=4)
def _load(folder: str) -> tuple[ReportedNumber, ...]:
    root = Path(folder)
    if not root.is_dir():
        raise RecordError("the reported-numbers folder is missing", where=root,
                          fix="reinstall brainvis-bench (the CSVs ship in bench/leaderboard/reported/)")
    out: list[ReportedNumber] = []
    facts = _protocols(root)
    for name, paper in PAPERS.items():
        path = root / name
        if not path.is_file():
            raise RecordError(f"reported-numbers file {name} is missing", where=root,
                              fix="reinstall brainvis-bench, or remove the paper from PAPERS in "
                                  "bench/leaderboard/reported.py")
        try:
            out += _rows(path, paper, facts)
        except KeyError as exc:
            raise RecordError(f"column {exc} is missing", where=path,
                              fix=f"the '{paper.layout}' layout needs it (see bench/leaderboard/reported.py)"
                              ) from None
    return tuple(out)


def load_reported(folder: Path | None = None) -> list[ReportedNumber]:
    """Every reported number, in file and line order (``folder`` defaults to the packaged CSVs)."""
    return list(_load(str(Path(folder or REPORTED_DIR).resolve())))


def task_signature(task_spec: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(dataset key, kind, scheme) of a resolved task spec, in the vocabulary of reported rows."""
    kind = task_spec.get("kind")
    scheme = task_spec.get("scheme")
    dataset = task_spec.get("dataset") or {}
    return dataset_key(str(dataset.get("name", ""))), kind, scheme


def task_protocol(task_spec: Mapping[str, Any]) -> dict[str, Any]:
    """The retrieval protocol facts of a task spec (defaults of ``bench.tasks.retrieval.RetrievalProtocol``)."""
    p = task_spec.get("protocol") or {}
    dataset = task_spec.get("dataset") or {}
    return {"gallery": p.get("gallery", "stimulus"), "similarity": p.get("similarity", "cosine"),
            "top_k": list(p.get("top_k", [1, 5])), "k_way_sampled": bool(p.get("k_way_sampled", True)),
            "batch_retrieval": list(p.get("batch_retrieval", [])),
            "train_repetitions": dataset.get("train_repetitions", "average")}


def protocol_mismatch(row: ReportedNumber, task_spec: Mapping[str, Any]) -> list[str]:
    """Why ``row`` was not made with ``task_spec``'s retrieval protocol (empty: it was)."""
    f = row.protocol
    if row.kind != "retrieval" or f is None or f.gallery == "n/a":
        return []
    tp = task_protocol(task_spec)
    out = []
    if f.gallery != tp["gallery"]:
        out.append(f"gallery: paper {f.gallery}, task {tp['gallery']}")
    if f.similarity != tp["similarity"]:
        out.append(f"similarity: paper {f.similarity}, task {tp['similarity']}")
    if f.batch_size and f.batch_size not in tp["batch_retrieval"]:
        out.append(f"batch retrieval: paper batches of {f.batch_size}, task none of that size")
    if f.estimate == "single draw" and not tp["k_way_sampled"]:
        out.append("k-way: paper one random draw, task reports no sampled draw")
    if f.train_repetitions and f.train_repetitions != tp["train_repetitions"]:
        out.append(f"training repetitions: paper {f.train_repetitions}, task {tp['train_repetitions']}")
    k = {"top1_acc": 1, "top3_acc": 3, "top5_acc": 5}.get(row.metric)
    if k is not None and k not in tp["top_k"]:
        out.append(f"metric: paper top-{k}, task reports top-{tp['top_k']}")
    return out


def _candidates(rows: Iterable[ReportedNumber], task_spec: Mapping[str, Any]) -> list[ReportedNumber]:
    """Rows of the same dataset, kind and scheme as a real-data task (no protocol check yet)."""
    dataset = task_spec.get("dataset") or {}
    if dataset.get("source", "real") != "real":
        return []
    ds, kind, scheme = task_signature(task_spec)
    return [r for r in rows if r.dataset == ds and r.kind == kind and (r.scheme is None or r.scheme == scheme)]


def reported_for_task(rows: Iterable[ReportedNumber], task_spec: Mapping[str, Any]) -> list[ReportedNumber]:
    """Rows comparable with ``task_spec``: real data, same dataset, kind and scheme, and -- for retrieval
    -- the same protocol (:func:`protocol_mismatch` empty); other kinds need the default variant."""
    out = []
    for r in _candidates(rows, task_spec):
        if r.kind == "retrieval" and r.protocol is not None and r.protocol.gallery != "n/a":
            if not protocol_mismatch(r, task_spec):
                out.append(r)
        elif task_spec.get("variant", "default") == "default":
            out.append(r)
    return out


@dataclass(frozen=True)
class Mismatch:
    """A paper table with figures for this dataset/kind/scheme whose protocol differs from the task's."""

    label: str              # 'reported in AlignVis (...), Table 1'
    n_rows: int
    reasons: tuple[str, ...]
    protocol: ProtocolFacts

    @property
    def optimistic(self) -> bool:
        return self.protocol.optimistic


def reported_mismatches(rows: Iterable[ReportedNumber], task_spec: Mapping[str, Any]) -> list[Mismatch]:
    """Retrieval figures of the task's dataset, kind and scheme that were made with another protocol,
    one entry per paper table, with the reasons (for the task page's "not comparable" list)."""
    groups: dict[str, list[tuple[ReportedNumber, list[str]]]] = {}
    for r in _candidates(rows, task_spec):
        reasons = protocol_mismatch(r, task_spec)
        if reasons:
            groups.setdefault(r.label, []).append((r, reasons))
    out = []
    for label, items in groups.items():
        reasons = tuple(dict.fromkeys(x for _, rs in items for x in rs))
        out.append(Mismatch(label=label, n_rows=len(items), reasons=reasons, protocol=items[0][0].protocol))
    return out
