"""Store URIs: which schemes are supported, one canonical spelling per store, passwords never shown.

- :func:`normalise` gives the spelling every component connects with: ``sqlite:///`` paths made
  absolute, ``postgres://`` / ``postgresql://`` mapped to psycopg 3 (``postgresql+psycopg://``) with
  the default port written out, HTTP hosts lower-cased without a trailing slash.
- :func:`identity` is what names a store in tags, logs and comparisons: the normalised URI without
  credentials or driver, so ``postgresql://u:pw@DB/bench`` and ``postgres://u@db:5432/bench`` are one
  identity (one database is one store, whoever connects).
- :func:`redact` replaces a password (in the user-info part or a ``password=`` query) with ``***``;
  every message, tag and log line that shows a URI goes through it.

>>> identity("postgres://alice:secret@DB.lab:5432/bench")
'postgresql://db.lab:5432/bench'
>>> redact("postgresql://alice:secret@db/bench")
'postgresql://alice:***@db/bench'
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bench.errors import RecordError

#: What ``--tracking-uri`` accepts (shown when a URI is refused).
SUPPORTED = ("sqlite:///PATH.db (a file on this machine)",
             "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (psycopg 3; `pip install 'brainvis-bench[postgres]'`)",
             "http(s)://HOST:PORT (an `mlflow server`; the recommended lab setup)")

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@/\s]*)@")
_PW_QUERY = re.compile(r"(?i)(password=)[^&\s]*")


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***`` (also inside longer text, e.g. an error message)."""
    text = _USERINFO.sub(lambda m: f"{m.group('head')}:***@", str(uri))
    return _PW_QUERY.sub(r"\1***", text)


def kind(uri: str) -> str:
    """``sqlite``, ``postgresql``, ``mysql``, ``http``, ``file``, ``journal`` or the raw scheme ('' for a path)."""
    head = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if uri.startswith("journal:"):
        return "journal"
    family = head.split("+", 1)[0]
    if family in ("postgres", "postgresql"):
        return "postgresql"
    if family in ("http", "https"):
        return "http"
    return family


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for in-memory or another scheme)."""
    if kind(uri) != "sqlite" or not uri.startswith("sqlite:///") or uri.startswith("sqlite:///:memory:"):
        return None
    return Path(uri[len("sqlite:///"):].split("?", 1)[0]).expanduser()


def normalise(uri: str, *, what: str = "tracking store", field: str = "--tracking-uri",
              allow_journal: bool = False) -> str:
    """The canonical URI to connect with; refuses unsupported schemes with the supported ones listed."""
    uri = str(uri).strip()
    k = kind(uri)
    if k == "journal" and allow_journal:
        return "journal:" + str(Path(uri[len("journal:"):]).expanduser().resolve())
    if k == "sqlite":
        path = sqlite_path(uri)
        if path is None:
            if uri.startswith("sqlite:///:memory:") or uri == "sqlite://":
                return uri
            raise RecordError(f"'{redact(uri)}' is not a sqlite URI with a file path", field=field,
                              fix="write sqlite:///relative/path.db or sqlite:////absolute/path.db")
        query = uri.split("?", 1)[1] if "?" in uri else ""
        return f"sqlite:///{path.resolve()}" + (f"?{query}" if query else "")
    if k == "postgresql":
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme in ("postgres", "postgresql"):
            scheme = "postgresql+psycopg"
        host = (parts.hostname or "").lower()
        if not host:
            raise RecordError(f"'{redact(uri)}' names no host", field=field,
                              fix="write postgresql://USER:PASSWORD@HOST:5432/DATABASE")
        database = parts.path.lstrip("/")
        if not database:
            raise RecordError(f"'{redact(uri)}' names no database", field=field,
                              fix="add the database name: postgresql://USER@HOST:5432/DATABASE")
        user = parts.username or ""
        auth = user + (f":{parts.password}" if parts.password is not None else "")
        netloc = (f"{auth}@" if auth else "") + f"{host}:{parts.port or 5432}"
        query = urlencode(sorted(parse_qsl(parts.query)))
        return urlunsplit((scheme, netloc, "/" + database, query, ""))
    if k == "mysql":
        return uri
    if k == "http":
        parts = urlsplit(uri)
        host = (parts.hostname or "").lower()
        port = f":{parts.port}" if parts.port else ""
        auth = f"{parts.username}:{parts.password}@" if parts.username and parts.password else ""
        return urlunsplit((parts.scheme.lower(), f"{auth}{host}{port}", parts.path.rstrip("/"), parts.query, ""))
    if k == "file":
        reason = "MLflow 3 refuses its file store (./mlruns) for tracking"
    elif k == "":
        reason = "it has no scheme (a bare path is not a store URI)"
    else:
        reason = f"the scheme '{k}' is not supported"
    raise RecordError(f"cannot use '{redact(uri)}' as the {what}: {reason}", field=field,
                      fix="use one of: " + "; ".join(SUPPORTED)
                          + (f" (for this file: sqlite:///{Path(uri.split('://', 1)[-1]).with_suffix('.db')})"
                             if k in ("file", "") else ""))


def identity(uri: str) -> str:
    """The store's identity: normalised, without credentials or driver (for tags, logs, comparisons)."""
    k = kind(uri)
    if k in ("sqlite", "journal"):
        return normalise(uri, allow_journal=True)
    if k == "postgresql":
        parts = urlsplit(normalise(uri))
        return urlunsplit(("postgresql", f"{parts.hostname}:{parts.port}", parts.path, "", ""))
    if k == "http":
        parts = urlsplit(normalise(uri))
        port = f":{parts.port}" if parts.port else ""
        return urlunsplit((parts.scheme, f"{parts.hostname}{port}", parts.path, "", ""))
    return redact(uri)


def password(uri: str) -> str | None:
    """The password in ``uri``'s user-info part, if any (to scrub it from driver messages)."""
    try:
        return urlsplit(uri).password
    except ValueError:
        return None


def scrub(text: str, uri: str) -> str:
    """``text`` (e.g. a driver's error message) with ``uri``'s password removed wherever it appears."""
    out = redact(str(text))
    pw = password(uri)
    if pw:
        out = out.replace(pw, "***")
    return out


__all__ = ["SUPPORTED", "identity", "kind", "normalise", "password", "redact", "scrub", "sqlite_path"]
