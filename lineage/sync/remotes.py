"""Remotes: named fsspec URLs in ``.lineage/config.toml`` (opened by ``lineage.store.backends``).

A remote is a local folder (a plain path or ``file://``), ``s3://bucket/prefix``
(through s3fs, with the standard AWS credential chain) or any other URL fsspec
knows. Only non-secret options are kept (``endpoint_url``, ``profile``,
``region``, timeouts); a URL with embedded credentials is refused.

    >>> remotes.add(repo, "origin", "s3://team-data/lineage", default=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lineage.config import is_secret_key
from lineage.core.redact import REDACTED, redact_cheaply
from lineage.errors import ConfigError, UsageError
from lineage.store.backends import BACKENDS, describe_error, filesystem, quiet_async_backends, scheme_of
from lineage.store.remote import MAX_PART_SIZE, MIN_PART_SIZE, RemoteStore

if TYPE_CHECKING:
    from lineage.repo import Repo

# re-exported: opening a remote's filesystem lives in lineage.store.backends
__all__ = ["BACKENDS", "OPTIONS", "Remote", "add", "describe_error", "filesystem", "get", "jobs",
           "list_remotes", "normalize_url", "open_remote", "quiet_async_backends", "remove",
           "scheme_of", "shown_option"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

#: Options a remote may carry besides its URL (never credentials).
OPTIONS = ("endpoint_url", "profile", "region", "connect_timeout", "read_timeout", "retries",
           "pack_size", "jobs", "part_size", "parts")


@dataclass(frozen=True)
class Remote:
    """One configured remote."""

    name: str
    url: str
    default: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return scheme_of(self.url)

    def to_dict(self) -> dict[str, Any]:
        """As printed (``remote list --json``): the loader refuses credentials, and this
        masks them again whatever reached ``options`` (e.g. a Remote built in code)."""
        return {"name": self.name, "url": redact_cheaply(self.url), "default": self.default,
                "options": {k: shown_option(k, v) for k, v in sorted(self.options.items())}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Remote:
        return cls(d["name"], d["url"], bool(d.get("default", False)), dict(d.get("options", {})))


def shown_option(key: str, value: Any) -> Any:
    """An option's value as printed: masked under a credential-like name or where it holds one."""
    if is_secret_key(key):
        return REDACTED
    return redact_cheaply(value) if isinstance(value, str) else value


def normalize_url(url: str, *, base: Path | None = None) -> str:
    """Check ``url`` and return it in stored form (local paths made absolute).

    Refuses embedded credentials (``s3://KEY:SECRET@bucket``) and query strings.
    """
    url = url.strip()
    if not url:
        raise UsageError("a remote URL must not be empty")
    scheme = scheme_of(url)
    if scheme == "file":
        path = url[len("file://"):] if url.lower().startswith("file://") else url
        if not path:
            raise UsageError(f"remote URL {url!r} names no folder")
        p = Path(os.path.expanduser(path))
        if not p.is_absolute():
            p = (base or Path.cwd()) / p
        return os.path.normpath(p)
    parts = urlsplit(url)
    if "@" in parts.netloc or parts.username or parts.password:
        raise UsageError(
            "refusing a remote URL with embedded credentials; give credentials through the "
            "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or an AWS profile (--profile)"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"remote URL must not carry a query or fragment: {scheme}://{parts.netloc}{parts.path}")
    if not parts.netloc:
        raise UsageError(f"remote URL {url!r} names no bucket or host")
    import fsspec

    if scheme not in fsspec.available_protocols() and scheme not in BACKENDS:
        raise UsageError(f"unknown remote URL scheme {scheme!r} (use a folder, file:// or s3://)")
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid remote name {name!r} (letters, digits, '.', '_' or '-')")


def _check_options(options: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in options.items():
        if value is None:
            continue
        if is_secret_key(key):
            raise ConfigError(f"refusing to store '{key}' with a remote: credentials come from the "
                              "environment or an AWS profile")
        if key not in OPTIONS:
            raise UsageError(f"unknown remote option {key!r} (known: {', '.join(OPTIONS)})")
        if key == "endpoint_url":
            parts = urlsplit(str(value))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise UsageError("endpoint URL must be http:// or https://, not "
                                 f"{redact_cheaply(str(value))!r}")
            if "@" in parts.netloc:
                raise UsageError("refusing an endpoint URL with embedded credentials")
        if key in ("connect_timeout", "read_timeout"):
            value = float(value)
            if value <= 0:
                raise UsageError(f"{key} must be positive")
        if key in ("retries", "pack_size", "jobs", "part_size", "parts"):
            value = int(value)
            if value < (0 if key == "retries" else 1):
                raise UsageError(f"{key} must be {'non-negative' if key == 'retries' else 'positive'}")
            if key == "part_size" and not MIN_PART_SIZE <= value <= MAX_PART_SIZE:
                raise UsageError(f"part_size must be between {MIN_PART_SIZE} (5 MiB) and "
                                 f"{MAX_PART_SIZE} (5 GiB): S3's limits for one part")
        clean[key] = value
    return clean


def _table(repo: Repo) -> dict[str, Any]:
    remotes = repo.config.get("remotes", {})
    if not isinstance(remotes, dict):
        raise ConfigError("[remotes] in .lineage/config.toml must be a table")
    return remotes


def _default_name(repo: Repo) -> str | None:
    return repo.config.get("core", {}).get("remote")


def list_remotes(repo: Repo) -> list[Remote]:
    """Every configured remote, by name."""
    default = _default_name(repo)
    out = []
    for name, entry in sorted(_table(repo).items()):
        if not isinstance(entry, dict) or "url" not in entry:
            raise ConfigError(f"remote {name!r} in .lineage/config.toml has no url")
        opts = {k: v for k, v in entry.items() if k != "url"}
        out.append(Remote(name, entry["url"], name == default, opts))
    return out


def get(repo: Repo, name: str | None = None) -> Remote:
    """The remote called ``name``, or the default one."""
    remotes = {r.name: r for r in list_remotes(repo)}
    if name is None:
        name = _default_name(repo)
        if name is None:
            if len(remotes) == 1:
                return next(iter(remotes.values()))
            raise UsageError("no default remote; add one with 'lineage remote add NAME URL --default' "
                             "or pass --remote NAME")
    if name not in remotes:
        known = ", ".join(sorted(remotes)) or "none configured"
        raise UsageError(f"no remote named {name!r} ({known})")
    return remotes[name]


def add(repo: Repo, name: str, url: str, *, default: bool = False, exist_ok: bool = False,
        **options: Any) -> Remote:
    """Record a remote. With ``exist_ok`` re-adding the same URL is a no-op."""
    _check_name(name)
    url = normalize_url(url, base=repo.root)
    opts = _check_options(options)
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in repo.raw_config.items()}
    table = {k: dict(v) for k, v in raw.get("remotes", {}).items()}
    if name in table and not (exist_ok and table[name].get("url") == url):
        raise UsageError(f"remote {name!r} exists ({table[name].get('url')}); remove it first")
    table[name] = {**table.get(name, {}), "url": url, **opts}
    raw["remotes"] = table
    core = dict(raw.get("core", {}))
    if default or not core.get("remote"):
        core["remote"] = name if (default or len(table) == 1) else core.get("remote")
    raw["core"] = {k: v for k, v in core.items() if v is not None}
    repo.save_config(raw)
    repo.__dict__.pop("raw_config", None)
    return get(repo, name)


def remove(repo: Repo, name: str) -> Remote:
    """Forget a remote (its data stays where it is)."""
    remote = get(repo, name)
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in repo.raw_config.items()}
    table = {k: dict(v) for k, v in raw.get("remotes", {}).items()}
    table.pop(name, None)
    raw["remotes"] = table
    core = dict(raw.get("core", {}))
    if core.get("remote") == name:
        core.pop("remote")
    raw["core"] = core
    repo.save_config(raw)
    repo.__dict__.pop("raw_config", None)
    return remote


def open_remote(repo: Repo, name: str | None = None) -> RemoteStore:
    """The object store of the remote called ``name`` (or the default one)."""
    return RemoteStore(get(repo, name), repo.dir / "cache" / "remotes")


def jobs(remote: Remote) -> int:
    """Transfers in flight at once: few on a local disk, many against an object store."""
    return int(remote.options.get("jobs", 4 if remote.scheme == "file" else 16))


def run_all(n_jobs: int, calls: list[Callable[[], int]]) -> int:
    """Run ``calls`` on ``n_jobs`` threads; the sum of what they return (bytes moved).
    The first failure is raised once the calls before it are done."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        futures = [pool.submit(call) for call in calls]
        return sum(f.result() for f in futures)
