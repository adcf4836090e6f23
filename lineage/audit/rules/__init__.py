"""Audit rules: registered classes, one module per family, and the findings they make.

A rule has a slug (the name outside tools rely on), a default severity, a docstring
that says what it flags, why it matters and how to fix it, and
``check(ctx, run) -> list[Finding]``. Built-in rules register exactly as a
third-party rule does: through ``register`` at import, and third-party packages
expose their rule classes under the ``lineage.rules`` entry-point group::

    [project.entry-points."lineage.rules"]
    my-rule = "my_package.rules:MyRule"
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

from lineage.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from lineage.audit import AuditContext
    from lineage.runs import RunRecord

ENTRY_POINT_GROUP = "lineage.rules"

#: Modules that hold the built-in rules.
BUILTIN_MODULES = [
    "lineage.audit.rules.hygiene",
    "lineage.audit.rules.heldout",
    "lineage.audit.rules.overlap",
    "lineage.audit.rules.reuse",
    "lineage.audit.rules.drift",
    "lineage.audit.rules.coverage",
]


class Severity(IntEnum):
    info = 0
    warning = 1
    error = 2
    critical = 3

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.strip().lower()]
        except KeyError:
            raise UsageError(
                f"unknown severity {value!r}; use critical, error, warning or info"
            ) from None


@dataclass(frozen=True)
class Finding:
    """One problem a rule found in one run, with the evidence an auditor can check."""

    rule: str
    severity: str
    run_id: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    waived: bool = False
    waiver: dict[str, Any] | None = None

    @property
    def level(self) -> Severity:
        return Severity[self.severity]

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "run_id": self.run_id,
                "message": self.message, "evidence": self.evidence, "waived": self.waived,
                "waiver": self.waiver}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        return cls(d["rule"], d["severity"], d["run_id"], d["message"], dict(d.get("evidence") or {}),
                   bool(d.get("waived", False)), d.get("waiver"))


class Rule:
    """Base class of every rule. Subclasses set the class attributes and ``check``."""

    slug: ClassVar[str] = ""
    severity: ClassVar[Severity] = Severity.warning
    title: ClassVar[str] = ""
    #: Tunable options and their defaults; ``[tool.lineage.audit.rules.SLUG]`` overrides them.
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        settings = dict(settings or {})
        level = settings.pop("severity", None)
        self.level = Severity.parse(level) if level else self.severity
        self.enabled = bool(settings.pop("enabled", True))
        unknown = set(settings) - set(self.options)
        if unknown:
            raise ConfigError(f"unknown option(s) for rule {self.slug}: {', '.join(sorted(unknown))}")
        self.config = {**self.options, **settings}

    def check(self, ctx: AuditContext, run: RunRecord) -> list[Finding]:
        raise NotImplementedError

    def finding(self, run: RunRecord, message: str, evidence: dict[str, Any] | None = None, *,
                severity: Severity | None = None) -> Finding:
        level = self.level if severity is None else severity  # Severity.info is 0: test for None
        return Finding(self.slug, level.name, run.run_id, message, evidence or {})

    @classmethod
    def describe(cls) -> dict[str, Any]:
        doc = (cls.__doc__ or "").strip()
        return {"rule": cls.slug, "severity": cls.severity.name, "title": cls.title or doc.split("\n")[0],
                "description": doc, "options": dict(cls.options), "source": cls.__module__}


_REGISTRY: dict[str, type[Rule]] = {}
_loaded = False


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add a rule to the registry (built-in and plug-in rules alike)."""
    if not cls.slug:
        raise ValueError(f"{cls.__name__} has no slug")
    _REGISTRY[cls.slug] = cls
    return cls


def load() -> dict[str, type[Rule]]:
    """Every registered rule, built-ins first, then entry-point plug-ins."""
    global _loaded
    if not _loaded:
        for name in BUILTIN_MODULES:
            importlib.import_module(name)
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plug-in must not hide the built-ins
                raise ConfigError(f"rule plug-in {ep.name!r} ({ep.value}) failed to load: {exc}") from None
            if isinstance(cls, type) and issubclass(cls, Rule):
                register(cls)
            else:
                raise ConfigError(f"rule plug-in {ep.name!r} ({ep.value}) is not a lineage Rule class")
        _loaded = True
    return dict(_REGISTRY)


def catalogue() -> list[dict[str, Any]]:
    """Every rule's slug, default severity, description and options (``lineage rules``)."""
    return [cls.describe() for _, cls in sorted(load().items())]
