"""What a run is: the value objects (``RunRecord`` and its parts) and the checks on
IDs, names and values that every way of recording a run shares."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from lineage.core.vocab import KINDS, ROLES
from lineage.errors import UsageError

SPLITS = ("train", "validation", "test", "other")
STATUSES = ("running", "succeeded", "failed", "aborted")
FINAL_STATUSES = ("succeeded", "failed", "aborted")

#: The environment variable that carries a run ID into a command (and out of an orchestrator).
ENV_RUN_ID = "LINEAGE_RUN_ID"

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_SNAPSHOT_ID = re.compile(r"^[0-9a-f]{64}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

#: hex digits of a UUID run ID's short form: its last ones, random in a UUIDv7
SHORT_ID_LENGTH = 8


def short_id(run_id: str) -> str:
    """The short form of a run ID (docs/runs.md): the last 8 hex digits of a UUID (the
    random tail of a UUIDv7, the same in every clone and after a rebuild); any other
    run ID, chosen by its user, is its own short form."""
    return run_id[-SHORT_ID_LENGTH:] if _UUID.match(run_id) else run_id


def is_short_id(ref: str) -> bool:
    """Whether ``ref`` has the form of a UUID run ID's short form."""
    return len(ref) == SHORT_ID_LENGTH and all(c in "0123456789abcdef" for c in ref)
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,127}$")


# -- value objects ----------------------------------------------------------------

@dataclass(frozen=True)
class RunInput:
    snapshot_id: str
    role: str
    path: str | None = None
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunInput:
        return cls(d["snapshot_id"], d["role"], d.get("path"), d.get("dataset"))


@dataclass(frozen=True)
class RunOutput:
    snapshot_id: str
    path: str | None = None
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunOutput:
        return cls(d["snapshot_id"], d.get("path"), d.get("dataset"))


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    split: str | None = None
    step: int | None = None
    time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        return cls(d["name"], d["value"], d.get("split"), d.get("step"), d.get("time"))


@dataclass(frozen=True)
class RunRecord:
    """Everything recorded about one run, as ``lineage show RUN`` prints it."""

    run_id: str
    kind: str
    status: str
    exit_code: int | None
    error: str | None
    command: list[str] | None
    params: dict[str, Any]
    inputs: tuple[RunInput, ...]
    outputs: tuple[RunOutput, ...]
    metrics: tuple[Metric, ...]
    started: str
    ended: str | None
    user: str | None
    host: str | None
    git: dict[str, Any]
    env: dict[str, Any]
    parent_run: str | None = None

    @property
    def short_id(self) -> str:
        return short_id(self.run_id)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["short_id"] = self.short_id
        d["inputs"] = [i.to_dict() for i in self.inputs]
        d["outputs"] = [o.to_dict() for o in self.outputs]
        d["metrics"] = [m.to_dict() for m in self.metrics]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        return cls(
            d["run_id"], d["kind"], d["status"], d.get("exit_code"), d.get("error"),
            d.get("command"), dict(d.get("params") or {}),
            tuple(RunInput.from_dict(i) for i in d.get("inputs") or ()),
            tuple(RunOutput.from_dict(o) for o in d.get("outputs") or ()),
            tuple(Metric.from_dict(m) for m in d.get("metrics") or ()),
            d["started"], d.get("ended"), d.get("user"), d.get("host"), dict(d.get("git") or {}),
            dict(d.get("env") or {}), d.get("parent_run"),
        )

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class RunSummary:
    """One line of ``lineage log --runs``."""

    run_id: str
    kind: str
    status: str
    exit_code: int | None
    started: str
    ended: str | None
    user: str | None
    git_commit: str | None
    git_dirty: bool | None
    command: list[str] | None
    parent_run: str | None

    @property
    def short_id(self) -> str:
        return short_id(self.run_id)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "short_id": self.short_id}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSummary:
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


# -- IDs, names and values --------------------------------------------------------

def new_run_id() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; sorts by time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76                                   # version 7
    value |= ((rand >> 62) & 0xFFF) << 64                # 12 random bits
    value |= 0b10 << 62                                  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)                      # 62 random bits
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def check_run_id(run_id: str) -> str:
    """Refuse run IDs that could be mistaken for something else (a snapshot ID, a path)."""
    if not _RUN_ID.match(run_id or ""):
        raise UsageError(
            f"invalid run ID {run_id!r}: use 1-128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    if _SNAPSHOT_ID.match(run_id):
        raise UsageError(f"invalid run ID {run_id[:16]}...: 64 hex digits is the form of a snapshot ID")
    return run_id


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"unknown run kind {kind!r}; use one of {', '.join(KINDS)}")
    return kind


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown input role {role!r}; use one of {', '.join(ROLES)}")
    return role


def check_split(split: str | None) -> str | None:
    if split is not None and split not in SPLITS:
        raise UsageError(f"unknown metric split {split!r}; use one of {', '.join(SPLITS)}")
    return split


def parse_value(text: str) -> Any:
    """A parameter value from the command line: a JSON number, boolean or null, else text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and value != value:  # NaN has no canonical JSON form
        return text
    return value if isinstance(value, (int, float, bool)) or value is None else text


def parse_assignment(text: str, what: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (the first '='); a clear error when it is not one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{what} must look like KEY=VALUE, not {text!r}")
    return key, value


def parse_input(text: str) -> tuple[str, str]:
    """``ROLE=PATH|REF`` -> (role, value); a bare value gets role ``other``."""
    key, sep, value = text.partition("=")
    if sep and key in ROLES:
        if not value:
            raise UsageError(f"--input {text!r} names no path or snapshot after '='")
        return key, value
    if sep and re.fullmatch(r"[a-z_]+", key):
        raise UsageError(f"unknown input role {key!r} in {text!r}; use one of {', '.join(ROLES)}")
    return "other", text
