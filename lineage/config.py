"""Repository configuration in ``.lineage/config.toml``.

Holds settings only: the link mode, remotes and their non-secret options
(``url``, ``endpoint_url``, ``profile``, ``region``). Credentials come from the
standard chains (environment, AWS profiles) and are refused here, both when a file
is written and when it is read: a secret typed into ``config.toml`` or
``[tool.lineage]`` by hand stops any command that reads the file with a ``ConfigError``
naming the key and the file, never the value, before anything could print or push it.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from lineage.errors import ConfigError

DEFAULTS: dict[str, Any] = {"core": {"link": "copy", "store": True}}

#: Option names that must never be written to disk.
SECRET_KEYS = frozenset({
    "key", "secret", "token", "password", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "access_key", "secret_key", "session_token", "credentials",
})

#: Tables whose keys are names the user chose (a dataset called "tokens" is no secret).
NAME_TABLES = (("remotes",), ("datasets",), ("audit", "rules"))

#: Expected types of the settings lineage reads from config.toml.
_CORE_TYPES: dict[str, type | tuple[type, ...]] = {"link": str, "store": bool, "remote": str,
                                                   "durability": str}
_REMOTE_TYPES: dict[str, type | tuple[type, ...]] = {
    "url": str, "endpoint_url": str, "profile": str, "region": str,
    "connect_timeout": (int, float), "read_timeout": (int, float),
    "retries": int, "pack_size": int, "jobs": int, "part_size": int, "parts": int,
}


def is_secret_key(key: str) -> bool:
    """Whether an option called ``key`` would hold a credential (``aws_secret_access_key``,
    ``password``, ``token``); ``endpoint_url``, ``region`` and ``profile`` are fine."""
    from lineage.core.redact import is_secret_name  # lazy: compiles many patterns; --help needs none

    return key.lower() in SECRET_KEYS or is_secret_name(key)


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML document at ``path`` ({} when there is none); any fault is a ConfigError."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid TOML: it is not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid TOML: nested too deeply") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None


def check_secrets(value: Any, source: str, where: tuple[str, ...] = ()) -> None:
    """Refuse credential-looking option names, and credentials inside string values
    (a password in a URL, an AWS key, a JWT, a private key). The message names the key
    and ``source``, never the value."""
    from lineage.core.redact import looks_secret  # lazy, as above

    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            path = (*where, key)
            user_named = where in NAME_TABLES
            if looks_secret(key):
                raise ConfigError(f"refusing {source}: a key under '{_dotted(where) or 'the top'}' "
                                  "looks like a credential; credentials come from the environment "
                                  "or an AWS profile")
            if not user_named and is_secret_key(key):
                raise ConfigError(f"refusing '{_dotted(path)}' in {source}: it looks like a credential; "
                                  "credentials come from the environment or an AWS profile")
            check_secrets(v, source, path)
    elif isinstance(value, list):
        for item in value:
            check_secrets(item, source, where)
    elif isinstance(value, str) and looks_secret(value):
        raise ConfigError(f"refusing '{_dotted(where)}' in {source}: its value holds a credential; "
                          "credentials come from the environment or an AWS profile")


def _dotted(parts: tuple[str, ...]) -> str:
    """``a.b."odd key"``: TOML's own spelling, so a message stays one printable line."""
    import json

    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else json.dumps(p) for p in parts)


def _check_shape(data: dict[str, Any], source: str) -> None:
    """The sections lineage reads have the types it expects (else a ConfigError, not a crash later)."""
    core = data.get("core", {})
    if not isinstance(core, dict):
        raise ConfigError(f"[core] in {source} must be a table")
    for key, kind in _CORE_TYPES.items():
        if key in core and not isinstance(core[key], kind):
            raise ConfigError(f"core.{key} in {source} must be a {_kind(kind)}")
    remotes = data.get("remotes", {})
    if not isinstance(remotes, dict):
        raise ConfigError(f"[remotes] in {source} must be a table")
    for name, entry in remotes.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{_dotted(('remotes', name))} in {source} must be a table")
        if not isinstance(entry.get("url"), str):
            raise ConfigError(f"remote {name!r} in {source} has no url")
        for key, value in entry.items():
            kind = _REMOTE_TYPES.get(key)
            bad = (isinstance(value, (dict, list)) if kind is None
                   else not isinstance(value, kind) or isinstance(value, bool))
            if bad:
                raise ConfigError(f"{_dotted(('remotes', name, key))} in {source} must be "
                                  f"{'a ' + _kind(kind) if kind else 'a single value'}")


def _kind(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", bool: "boolean (true or false)", int: "whole number", float: "number"}
    return "number" if isinstance(kind, tuple) else names.get(kind, kind.__name__)


def load(path: Path) -> dict[str, Any]:
    """``config.toml`` merged over :data:`DEFAULTS`, checked: no credentials, sane types."""
    data = read_toml(path)
    check_secrets(data, str(path))
    _check_shape(data, str(path))
    merged = {k: dict(v) for k, v in DEFAULTS.items()}
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    return merged


def save(path: Path, config: dict[str, Any]) -> None:
    """Write ``config`` atomically, refusing anything that looks like a credential."""
    import tomli_w

    import tempfile

    check_secrets(config, str(path))
    # a temp name of its own: two processes saving at once must not share one
    fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(config, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def pyproject_settings(root: Path) -> dict[str, Any]:
    """The ``[tool.lineage]`` table of ``pyproject.toml`` at the repository root, if any."""
    path = root / "pyproject.toml"
    if not path.exists():
        return {}
    data = read_toml(path)
    tool = data.get("tool", {})
    tool = tool.get("lineage", {}) if isinstance(tool, dict) else {}
    if not isinstance(tool, dict):
        raise ConfigError(f"[tool.lineage] in {path} must be a table")
    # pyproject.toml is committed: a credential here would be in every clone
    check_secrets(tool, f"[tool.lineage] in {path}")
    datasets = tool.get("datasets", {})
    if not isinstance(datasets, dict) or not all(isinstance(v, dict) for v in datasets.values()):
        raise ConfigError(f"[tool.lineage.datasets] in {path} must hold one table per dataset")
    return tool


# -- [tabular] limits: what reading one tabular file may cost (docs/tabular.md) ------------
#: Defaults; 0 turns a limit off. Kept apart from the secret checks above.
TABULAR_LIMITS: dict[str, int] = {
    "max_decompressed_bytes": 4 << 30,   # a .gz/.zst file may expand to 4 GiB at most
    "max_compression_ratio": 100,        # ... and to at most 100 times its own size
    "max_rows": 50_000_000,              # rows fingerprinted per file
    "max_fingerprint_bytes": 2 << 30,    # derived objects (fingerprints, MinHash) per file
}


def tabular_limits(config: dict[str, Any]) -> dict[str, int]:
    """The effective ``[tabular]`` limits: the defaults, overridden by ``config.toml``."""
    section = config.get("tabular", {})
    if not isinstance(section, dict):
        raise ConfigError("[tabular] in .lineage/config.toml must be a table")
    limits = dict(TABULAR_LIMITS)
    for key in TABULAR_LIMITS:
        if key in section:
            value = section[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"tabular.{key} in .lineage/config.toml must be a whole number "
                                  f"(0 for no limit), not {value!r}")
            limits[key] = value
    return limits


# -- [audit] memory_budget: when the overlap joins of an audit go out of core (docs/scale.md) --
#: Environment override of ``[audit] memory_budget`` (bytes, or "512MB", "2GiB").
MEMORY_BUDGET_ENV = "LINEAGE_AUDIT_MEMORY_BUDGET"

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_bytes(value: Any, source: str) -> int:
    """A size in bytes: a whole number, or a number with a unit (``"512MB"``, ``"2GB"``: powers
    of 1000; ``"2GiB"``: powers of 1024), as DuckDB reads them."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*", value, re.I) if isinstance(value, str) else None
    size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()]) if m else 0
    if size <= 0:
        raise ConfigError(f"{source} must be a size in bytes (e.g. 2GB, 512MB), not {str(value)[:40]!r}")
    return size


def default_memory_budget() -> int:
    """A quarter of the machine's physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def audit_memory_budget(config: dict[str, Any]) -> int:
    """Bytes of fingerprint keys an audit may hold in memory before its overlap joins run out
    of core: ``LINEAGE_AUDIT_MEMORY_BUDGET``, else ``[audit] memory_budget`` of ``config.toml``,
    else a quarter of physical memory."""
    env = os.environ.get(MEMORY_BUDGET_ENV)
    if env:
        return parse_bytes(env, MEMORY_BUDGET_ENV)
    section = config.get("audit", {})
    if not isinstance(section, dict):
        raise ConfigError("[audit] in .lineage/config.toml must be a table")
    if "memory_budget" in section:
        return parse_bytes(section["memory_budget"], "audit.memory_budget in .lineage/config.toml")
    return default_memory_budget()
