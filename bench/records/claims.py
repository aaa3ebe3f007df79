"""Unit claims with leases, kept in the MLflow store itself (sqlite, PostgreSQL or an MLflow server).

Before a unit runs, its worker claims the unit's key; while it runs a heartbeat refreshes the claim;
the claim is released when the record is written. Other workers -- local processes, Ray tasks,
other machines -- skip a key with a live claim and take over an expired one.

**Mechanism.** A claim is an MLflow *registered model* named ``bench-claim.<key>.<generation>``.
Registered-model names are unique in every MLflow backend (a database constraint in the sqlite and
PostgreSQL stores, enforced by the server behind ``http://``), so creating one is an atomic
test-and-set that works through the plain MLflow client against all three store kinds. Tags hold the
owner (host, pid, a random token), the lease and the last heartbeat (Unix seconds):

- claim:    find the newest generation of the key; if its heartbeat is younger than its lease, the
            unit is busy (skip it); otherwise create generation + 1 -- when two workers race, exactly
            one create succeeds;
- refresh:  every ``lease / 4`` seconds a background thread re-tags the heartbeat;
- release:  the claim is deleted after the unit's record is written (or the unit is abandoned).

An expired claim means its holder stopped heart-beating for a whole lease (killed, machine lost,
network cut) -- or, on the same machine, that its process no longer exists: its unit is taken over. Clocks of the workers must agree to well within a lease
(NTP); the default lease is 120 s (``BENCH_CLAIM_LEASE_S``). A holder that was only *paused* longer
than its lease (a suspended laptop) may finish after the takeover: the unit then has two finished
runs, never a lost one.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

PREFIX = "bench-claim."
DEFAULT_LEASE_S = 120.0


@dataclass(frozen=True)
class Claim:
    """A claim on one unit key (held by this process when ``token`` is ours)."""

    key: str
    generation: int
    owner: str                      # "host:pid"
    token: str
    heartbeat: float                # Unix seconds of the last refresh
    lease_s: float
    label: str = ""

    @property
    def name(self) -> str:
        return claim_name(self.key, self.generation)

    def age(self, now: float | None = None) -> float:
        return (time.time() if now is None else now) - self.heartbeat

    def live(self, now: float | None = None) -> bool:
        """Heart-beaten within its lease, and (when held on this machine) its process is still alive."""
        return self.age(now) < self.lease_s and not owner_dead(self.owner)


def owner_dead(owner: str) -> bool:
    """Whether ``host:pid`` names a process on *this* machine that no longer exists.

    A killed worker's claims need not wait for their lease to run out when the next worker runs on
    the same machine (the usual kill -9 + rerun). Other machines' claims expire by lease only.
    """
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child its parent has not reaped yet is a zombie: dead too
        stat = open(f"/proc/{int(pid)}/stat").read()
        return stat[stat.rindex(")") + 2:].split()[0] in ("Z", "X")
    except (OSError, ValueError, IndexError):
        return False


def claim_name(key: str, generation: int) -> str:
    return f"{PREFIX}{key}.{generation}"


def _from_model(model) -> Claim | None:
    name = model.name
    if not name.startswith(PREFIX):
        return None
    try:
        key, gen = name[len(PREFIX):].rsplit(".", 1)
        tags = model.tags or {}
        return Claim(key=key, generation=int(gen), owner=tags.get("bench.owner", "?"),
                     token=tags.get("bench.token", ""), heartbeat=float(tags.get("bench.heartbeat", 0)),
                     lease_s=float(tags.get("bench.lease_s", DEFAULT_LEASE_S)), label=tags.get("bench.label", ""))
    except (ValueError, TypeError):
        return None


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", "") or "")


def _retrying(fn, *args, attempts: int = 6, **kwargs):
    """Call a client method, retrying on sqlite's 'database is locked' (several processes on one file)."""
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if "locked" not in str(exc).lower() or i == attempts - 1:
                raise
            time.sleep(0.2 * 2 ** i)


class ClaimBook:
    """Claims of unit keys in one MLflow store (``client``: an ``MlflowClient`` with a registry)."""

    def __init__(self, client, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.client = client
        self.lease_s = float(lease_s)
        self.token = secrets.token_hex(8)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    # ---- reading ------------------------------------------------------------------------------
    def _search(self, pattern: str) -> list[Claim]:
        out, token = [], None
        while True:
            page = _retrying(self.client.search_registered_models, filter_string=f"name LIKE '{pattern}'",
                             max_results=1000, page_token=token)
            out += [c for c in map(_from_model, page) if c is not None]
            token = page.token
            if not token:
                return out

    def current(self, key: str) -> Claim | None:
        """The newest claim on ``key`` (live or expired), or None."""
        claims = self._search(f"{PREFIX}{key}.%")
        return max(claims, key=lambda c: c.generation) if claims else None

    def all(self) -> dict[str, Claim]:
        """The newest claim per key in the whole store."""
        out: dict[str, Claim] = {}
        for c in self._search(f"{PREFIX}%"):
            if c.key not in out or c.generation > out[c.key].generation:
                out[c.key] = c
        return out

    def live(self) -> dict[str, Claim]:
        """Keys with a live claim (what other workers skip)."""
        now = time.time()
        return {k: c for k, c in self.all().items() if c.live(now)}

    # ---- writing ------------------------------------------------------------------------------
    def try_claim(self, key: str, label: str = "") -> Claim | None:
        """Claim ``key`` atomically; None when another worker holds a live claim (or wins the race)."""
        current = self.current(key)
        now = time.time()
        if current is not None and current.live(now):
            return None
        generation = 1 if current is None else current.generation + 1
        claim = Claim(key, generation, self.owner, self.token, now, self.lease_s, label[:200])
        tags = {"bench.owner": claim.owner, "bench.token": claim.token, "bench.heartbeat": f"{now:.3f}",
                "bench.lease_s": f"{self.lease_s:g}", "bench.label": claim.label, "bench.kind": "claim"}
        try:
            _retrying(self.client.create_registered_model, claim.name, tags=tags,
                      description="brainvis-bench unit claim (deleted when the unit's record is written)")
        except Exception as exc:
            if "ALREADY_EXISTS" in _error_code(exc) or "already exists" in str(exc).lower():
                return None  # another worker won the race for this generation
            raise
        if current is not None:  # the expired claim we took over: remove it (best effort)
            self._delete(current.name)
        return claim

    def refresh(self, claim: Claim) -> None:
        """Re-tag the heartbeat of a claim we hold."""
        _retrying(self.client.set_registered_model_tag, claim.name, "bench.heartbeat", f"{time.time():.3f}")

    def release(self, claim: Claim) -> None:
        """Delete a claim we hold (best effort: an expired claim is taken over anyway)."""
        self._delete(claim.name)

    def _delete(self, name: str) -> None:
        try:
            _retrying(self.client.delete_registered_model, name)
        except Exception as exc:
            if "RESOURCE_DOES_NOT_EXIST" not in _error_code(exc) and "not found" not in str(exc).lower():
                warnings.warn(f"could not delete claim {name}: {exc}", stacklevel=2)

    def prune_expired(self) -> list[Claim]:
        """Delete every expired claim in the store; returns them."""
        now = time.time()
        gone = []
        for c in self._search(f"{PREFIX}%"):
            if not c.live(now):
                self._delete(c.name)
                gone.append(c)
        return gone


@dataclass
class Heartbeat:
    """A daemon thread refreshing held claims and the ``bench.heartbeat`` tag of running MLflow runs.

    ``interval`` defaults to a quarter of the lease. Failures are warned about once per item and
    retried on the next beat (a lost store for longer than a lease lets others take over).
    """

    book: ClaimBook
    interval: float | None = None
    claims: dict[str, Claim] = field(default_factory=dict)
    runs: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _warned: set[str] = field(default_factory=set)

    def start(self) -> "Heartbeat":
        self.interval = self.interval or max(0.5, self.book.lease_s / 4)
        self._thread = threading.Thread(target=self._loop, name="bench-heartbeat", daemon=True)
        self._thread.start()
        return self

    def add_claim(self, claim: Claim) -> None:
        with self._lock:
            self.claims[claim.name] = claim

    def drop_claim(self, claim: Claim) -> None:
        with self._lock:
            self.claims.pop(claim.name, None)

    def add_run(self, run_id: str) -> None:
        with self._lock:
            self.runs.add(run_id)
        self._beat_run(run_id)

    def drop_run(self, run_id: str) -> None:
        with self._lock:
            self.runs.discard(run_id)

    def _beat_run(self, run_id: str) -> None:
        try:
            _retrying(self.book.client.set_tag, run_id, "bench.heartbeat", f"{time.time():.3f}")
        except Exception as exc:
            self._warn(run_id, exc)

    def _warn(self, item: str, exc: Exception) -> None:
        if item not in self._warned:
            self._warned.add(item)
            warnings.warn(f"heartbeat for {item} failed ({exc}); retrying", stacklevel=2)

    def beat(self) -> None:
        """One refresh of everything held (the thread calls this every ``interval`` seconds)."""
        with self._lock:
            claims, runs = list(self.claims.values()), list(self.runs)
        for claim in claims:
            try:
                self.book.refresh(claim)
            except Exception as exc:
                self._warn(claim.name, exc)
        for run_id in runs:
            self._beat_run(run_id)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def describe(claim: Claim, now: float | None = None) -> str:
    """``claimed by host:pid, heartbeat 12 s ago`` (or ``expired ...``)."""
    age = claim.age(now)
    state = "claimed" if claim.live(now) else "expired claim"
    return f"{state} by {claim.owner}, heartbeat {age:.0f} s ago (lease {claim.lease_s:g} s)"


def parse_lease(value: Any) -> float:
    lease = float(value)
    if not lease > 0:
        raise ValueError("the claim lease must be > 0 seconds")
    return lease


__all__ = ["Claim", "ClaimBook", "DEFAULT_LEASE_S", "Heartbeat", "PREFIX", "claim_name", "describe"]
