"""Repository configuration in ``.lineage/config.toml``.

Holds settings only: the link mode, remotes and their non-secret options
(``url``, ``endpoint_url``, ``profile``, ``region``). Credentials come from the
standard chains (environment, AWS profiles) and are refused here.
"""

from __future__ import annotations

import os
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


def is_secret_key(key: str) -> bool:
    k = key.lower()
    return k in SECRET_KEYS or any(w in k for w in ("secret", "password", "token", "access_key"))


def load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        data = {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
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

    _refuse_secrets(config)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        tomli_w.dump(config, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _refuse_secrets(value: Any, where: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if is_secret_key(str(k)):
                raise ConfigError(
                    f"refusing to store '{where}{k}' in the config: credentials come from the "
                    "environment or an AWS profile"
                )
            _refuse_secrets(v, f"{where}{k}.")


def pyproject_settings(root: Path) -> dict[str, Any]:
    """The ``[tool.lineage]`` table of ``pyproject.toml`` at the repository root, if any."""
    path = root / "pyproject.toml"
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    tool = data.get("tool", {}).get("lineage", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"[tool.lineage] in {path} must be a table")
    return tool
