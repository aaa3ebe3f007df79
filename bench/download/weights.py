"""``bench weights download``: fetch image-model weights into the layout the harness reads.

    report = download_weights("open_clip", {"model": "ViT-B-32", "pretrained": "openai"}, settings)

Each family is fetched through its library's own mechanism, into ``settings.weights_dir`` exactly
where :mod:`bench.images.weights` looks:

- **open_clip**: the tag's Hugging Face repo (``open_clip.get_pretrained_cfg(model, tag)["hf_hub"]``,
  what open_clip itself downloads) with ``huggingface_hub.hf_hub_download(..., local_dir=...)`` into
  ``open_clip/<model>/<tag>/open_clip_model.safetensors`` (or ``open_clip_pytorch_model.bin``);
- **timm**: the model's ``pretrained_cfg.hf_hub_id`` likewise into ``timm/<arch>.<tag>/model.safetensors``
  (or its ``url`` through the resumable downloader when it has no hub repo);
- **dreamsim**: ``dreamsim(pretrained=True, cache_dir=<weights_dir>/dreamsim, ...)`` (its release zip
  and, for the DINO types, the torch-hub DINO code + checkpoint), with ``torch.hub.download_url_to_file``
  (which dreamsim and torch.hub call) routed through the resumable downloader and ``--mirror``;
- **metrics** (the reconstruction metrics' extractors, ``bench.metrics.features.EXTRACTORS``): each
  official file (torchvision's, SwAV's, OpenAI CLIP's) through the resumable downloader into
  ``torchvision/`` (CLIP: ``open_clip/``), checked against the hash its address carries (torch.hub's
  ``-<sha256 prefix>`` file-name convention; CLIP's full SHA-256 path segment).

Already-present weights are a no-op. The weights checksum the harness computes
(``model.weights_checksum()``) is recorded in ``<weights_dir>/.bench-weights.json`` on first sight;
if the files later differ from it, they are set aside (``*.mismatch``), fetched again, and put back
when fetching fails. ``--mirror URL`` redirects Hugging Face (endpoint ``<mirror>/huggingface.co``)
and the plain downloads (``<mirror>/<host>/<path>``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from bench.download.http import DownloadError, Expected, download
from bench.errors import ConfigError, WeightsMissingError
from bench.settings import Settings

RECORD = ".bench-weights.json"
METRICS = "metrics"


@dataclass
class WeightsReport:
    """What one ``download_weights`` call did, per model id."""

    entries: list[dict[str, Any]] = field(default_factory=list)   # {model_id, action, checksum, files}

    def lines(self) -> list[str]:
        out = []
        for e in self.entries:
            out.append(f"{e['model_id']}: {e['action']}  sha256 {str(e.get('checksum'))[:16]}")
            out.extend(f"    {f}" for f in e.get("files", []))
            if e.get("note"):
                out.append(f"    note: {e['note']}")
        return out


# ---------------------------------------------------------------------------------------- records
def _load_records(weights_dir: Path) -> dict[str, Any]:
    path = Path(weights_dir) / RECORD
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        return {}


def _save_records(weights_dir: Path, records: dict[str, Any]) -> None:
    Path(weights_dir).mkdir(parents=True, exist_ok=True)
    path = Path(weights_dir) / RECORD
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def hub_online(endpoint: str | None) -> Iterator[str | None]:
    """Let huggingface_hub reach the network (the CLI sets HF_HUB_OFFLINE=1 for everything else)."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield endpoint
    finally:
        constants.HF_HUB_OFFLINE = saved


def _hf_endpoint(mirror: str | None) -> str | None:
    return f"{mirror.rstrip('/')}/huggingface.co" if mirror else None


def _hf_fetch(repo: str, filenames: tuple[str, ...], dest: Path, mirror: str | None) -> Path:
    """The first of ``filenames`` that ``repo`` has, downloaded into ``dest`` (hf_hub_download, local_dir)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    tried = []
    with hub_online(mirror):
        for name in filenames:
            try:
                return Path(hf_hub_download(repo_id=repo, filename=name, local_dir=str(dest),
                                            endpoint=_hf_endpoint(mirror)))
            except EntryNotFoundError:
                tried.append(name)
            except HfHubHTTPError as exc:
                status = getattr(getattr(exc, "response", None), "status_code", None)
                if status == 404:
                    tried.append(name)
                    continue
                raise DownloadError(f"Hugging Face download of {repo}/{name} failed: {str(exc).splitlines()[0]}",
                                    fix="check the network (or --mirror) and re-run; finished files are kept") from None
            except Exception as exc:  # connection errors surface as several library types
                raise DownloadError(f"cannot fetch {repo}/{name} from "
                                    f"{_hf_endpoint(mirror) or 'https://huggingface.co'}: {type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''}",
                                    fix="check the network (or --mirror URL / BENCH_MIRROR) and re-run") from None
    raise DownloadError(f"{repo} has none of {list(filenames)} "
                        f"(asked {_hf_endpoint(mirror) or 'https://huggingface.co'})",
                        fix="the repo layout changed: fetch the weights by hand (the missing-weights error prints "
                            "the command) or use another tag")


# ---------------------------------------------------------------------------------------- families
def _fetch_open_clip(model, mirror: str | None, progress: bool) -> None:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(model.model, model.pretrained) or {}
    hub = (cfg.get("hf_hub") or "").strip("/")
    dest = model._default_dir()
    if not hub:
        raise DownloadError(f"open_clip has no Hugging Face repo for {model.model} / {model.pretrained}",
                            fix="fetch it by hand:\n" + model._how_to())
    _hf_fetch(hub, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"), dest, mirror)


def _fetch_timm(model, mirror: str | None, progress: bool) -> None:
    cfg = model._pretrained_cfg()
    dest = model._default_dirs()[0]
    if cfg.get("hf_hub_id"):
        _hf_fetch(cfg["hf_hub_id"], ("model.safetensors", "pytorch_model.bin"), dest, mirror)
    elif cfg.get("url"):
        download(cfg["url"], dest / "pytorch_model.bin", Expected(origin="none published"), mirror=mirror,
                 progress=progress)
    else:
        raise DownloadError(f"timm publishes no weights for {model.full_name}", fix="choose a tagged model name")


@contextlib.contextmanager
def torch_hub_downloads(mirror: str | None, progress: bool) -> Iterator[None]:
    """Route ``torch.hub.download_url_to_file`` (what dreamsim and torch.hub use) through the resumable,
    verified downloader and ``mirror``; torch.hub's ``hash_prefix`` is still checked. Under a mirror,
    torch.hub's GitHub-API check that a branch is not from a fork is skipped (the mirror is trusted)."""
    import torch.hub as hub

    saved = (hub.download_url_to_file, hub._validate_not_a_forked_repo)
    show = progress

    def fetch(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        fetched = download(url, Path(dst), Expected(origin="none published"), mirror=mirror, progress=show,
                           desc=Path(dst).name)
        if hash_prefix and not fetched.sha256.startswith(hash_prefix):
            fetched.path.unlink()
            raise DownloadError(f"{url}: sha256 {fetched.sha256[:16]}... does not start with {hash_prefix}",
                                fix="the copy served is corrupt; re-run later or use another --mirror")

    hub.download_url_to_file = fetch
    if mirror:
        hub._validate_not_a_forked_repo = lambda *args, **kwargs: None
    try:
        yield
    finally:
        hub.download_url_to_file, hub._validate_not_a_forked_repo = saved


def _fetch_dreamsim(model, mirror: str | None, progress: bool) -> None:
    import io

    from dreamsim import dreamsim

    folder = Path(model.weights) if model.weights else Path(model.settings.weights_dir) / "dreamsim"
    folder.mkdir(parents=True, exist_ok=True)
    import torch.hub

    saved_hub_dir = getattr(torch.hub, "_hub_dir", None)   # None = follow $TORCH_HOME (get_dir() would pin it)
    try:
        with torch_hub_downloads(mirror, progress), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            dreamsim(pretrained=True, device="cpu", cache_dir=str(folder), dreamsim_type=model.dreamsim_type)
        (folder / "pretrained.zip").unlink(missing_ok=True)   # dreamsim leaves its zip behind
    except DownloadError:
        raise
    except Exception as exc:
        raise DownloadError(f"dreamsim could not fetch {model.dreamsim_type} into {folder}: "
                            f"{type(exc).__name__}: {str(exc)[:300]}",
                            fix="check the network (or --mirror) and re-run (dreamsim skips files already there)") \
            from None
    finally:
        torch.hub._hub_dir = saved_hub_dir   # dreamsim calls torch.hub.set_dir(cache_dir); undo it


FETCHERS: dict[str, Callable[..., None]] = {"open_clip": _fetch_open_clip, "timm": _fetch_timm,
                                             "dreamsim": _fetch_dreamsim}


# ---------------------------------------------------------------------------------------- models
def _set_aside(files: list[Path]) -> list[tuple[Path, Path]]:
    moved = []
    for f in files:
        if f.is_file():
            aside = f.with_name(f.name + ".mismatch")
            os.replace(f, aside)
            moved.append((f, aside))
    return moved


def _restore(moved: list[tuple[Path, Path]]) -> None:
    for f, aside in moved:
        if aside.is_file() and not f.exists():
            os.replace(aside, f)


def _model_weights(name: str, params: Mapping[str, Any], settings: Settings, mirror: str | None,
                   force: bool, progress: bool, records: dict[str, Any], echo) -> dict[str, Any]:
    from bench.images import build_image_model

    model = build_image_model(name, params, settings)
    family = getattr(model, "name", name)
    fetch = FETCHERS.get(family)
    if fetch is None or not hasattr(model, "weight_files"):
        return {"model_id": model.model_id, "action": "needs no weights", "checksum": None}
    if getattr(model, "weights", None) and family != "dreamsim":
        raise ConfigError(f"{name} was given an explicit weights path ({model.weights}); nothing to download there",
                          field="weights", fix="drop the 'weights' parameter to fetch into the weights folder")
    action, note, moved = "already present", None, []
    try:
        files = model.weight_files()
        present = True
    except WeightsMissingError:
        present = False
    if present:
        checksum = model.weights_checksum()
        known = records.get(model.model_id)
        if known and known["checksum"] != checksum and not force:
            echo(f"{model.model_id}: weights checksum {checksum[:16]}... differs from the one recorded at download "
                 f"({known['checksum'][:16]}...); fetching them again")
            note = f"checksum was {checksum[:16]}..., recorded {known['checksum'][:16]}...: re-fetched"
            moved = _set_aside([Path(f) for f in files])
            present = False
        elif force:
            moved = _set_aside([Path(f) for f in files])
            present = False
    if not present:
        try:
            fetch(model, mirror, progress)
            files = model.weight_files()
        except BaseException as exc:
            _restore(moved)
            if moved and isinstance(exc, (DownloadError, WeightsMissingError)):
                raise DownloadError(f"{model.model_id}: the weights in place do not match the recorded checksum "
                                    f"and fetching them again failed: {exc}",
                                    fix="re-run where the host (or --mirror) is reachable, or put the official "
                                        "files back in place") from None
            raise
        for _, aside in moved:
            aside.unlink(missing_ok=True)
        action = "re-downloaded" if moved else "downloaded"
        checksum = model.weights_checksum()
    if model.model_id not in records or action != "already present":
        records[model.model_id] = {"checksum": checksum, "files": [str(f) for f in files],
                                   "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return {"model_id": model.model_id, "action": action, "checksum": checksum, "files": [str(f) for f in files],
            "note": note}


# ---------------------------------------------------------------------------------------- metrics
def _url_hash(url: str) -> tuple[str | None, str | None]:
    """(full sha256, sha256 prefix) an address carries: OpenAI CLIP's path segment, torch.hub's ``-<hex>``."""
    parts = url.rstrip("/").split("/")
    if len(parts) >= 2 and re.fullmatch(r"[0-9a-f]{64}", parts[-2]):
        return parts[-2], None
    m = re.search(r"-([0-9a-f]{8,})\.", parts[-1])
    return None, (m.group(1) if m else None)


def _metric_weights(settings: Settings, only: list[str] | None, mirror: str | None, progress: bool,
                    records: dict[str, Any], echo) -> list[dict[str, Any]]:
    from bench.metrics.features import EXTRACTORS, find_weights
    from bench.download.manifest import sha256_file

    keys = only or list(EXTRACTORS)
    unknown = [k for k in keys if k not in EXTRACTORS]
    if unknown:
        raise ConfigError(f"unknown metric extractor(s) {unknown}", field="extractors",
                          fix=f"use names among {sorted(EXTRACTORS)}")
    out = []
    for key in keys:
        extractor = EXTRACTORS[key](settings=settings)
        spec = extractor.weights_file()
        model_id = f"metrics:{key}:{spec.filename}"
        try:
            path = find_weights(spec, settings=settings, extra_dirs=extractor.extra_dirs())
            action = "already present"
        except WeightsMissingError:
            if not spec.url.startswith("http"):
                raise
            full, prefix = _url_hash(spec.url)
            path = Path(settings.weights_dir) / spec.subdir / spec.filename
            fetched = download(spec.url, path, Expected(sha256=full, origin="the address's SHA-256" if full else "none"),
                               mirror=mirror, progress=progress, desc=spec.filename)
            if prefix and not fetched.sha256.startswith(prefix):
                fetched.path.unlink()
                raise DownloadError(f"{spec.url}: sha256 {fetched.sha256[:16]}... does not start with {prefix} "
                                    "(torch.hub's file-name hash)", fix="the copy served is corrupt; re-run later "
                                                                        "or use another --mirror")
            action = "downloaded"
        checksum = sha256_file(path)
        known = records.get(model_id)
        if known and known["checksum"] != checksum:
            raise DownloadError(f"{path}: sha256 {checksum[:16]}... differs from the one recorded at download "
                                f"({known['checksum'][:16]}...)", fix=f"delete {path} and re-run this command")
        records.setdefault(model_id, {"checksum": checksum, "files": [str(path)],
                                      "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        out.append({"model_id": model_id, "action": action, "checksum": checksum, "files": [str(path)]})
    return out


def download_weights(name: str, params: Mapping[str, Any] | None, settings: Settings, *, mirror: str | None = None,
                     force: bool = False, progress: bool = True, echo=print) -> WeightsReport:
    """Fetch the weights of image model ``name`` (or ``"metrics"``: the metric extractors) if missing."""
    params = dict(params or {})
    records = _load_records(settings.weights_dir)
    report = WeightsReport()
    try:
        if name == METRICS:
            only = params.pop("extractors", None)
            if params:
                raise ConfigError(f"'metrics' has no parameter(s) {sorted(params)}", field="--param",
                                  fix="use --param extractors=alexnet,inception,...")
            if isinstance(only, str):
                only = [s.strip() for s in only.split(",") if s.strip()]
            report.entries.extend(_metric_weights(settings, only, mirror, progress, records, echo))
        else:
            report.entries.append(_model_weights(name, params, settings, mirror, force, progress, records, echo))
    finally:
        _save_records(settings.weights_dir, records)
    return report


__all__ = ["WeightsReport", "download_weights", "FETCHERS", "RECORD", "hub_online"]
