"""The rule registry: the base class, the findings rules make, and plug-in loading.

A rule has a slug (the name outside tools rely on), a default severity, a docstring
that says what it flags, why it matters and how to fix it, and
``check(ctx, run) -> list[Finding]``, where ``ctx`` is a ``RuleContext``
(``lineage.audit.protocol``). Built-in rules register through ``register``;
third-party packages expose theirs under the ``lineage.rules`` entry-point group::

    [project.entry-points."lineage.rules"]
    my-rule = "my_package.rules:MyRule"

A plug-in that fails to load, is not a ``Rule`` or takes a registered slug is skipped
with a ``RulePluginWarning`` naming it; the rules already registered are kept.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from enum import IntEnum
from importlib.metadata import entry_points
from typing import Any, ClassVar

from lineage.audit.protocol import RuleContext, RunView
from lineage.errors import ConfigError, RulePluginWarning, UsageError

ENTRY_POINT_GROUP = "lineage.rules"


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

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        raise NotImplementedError

    def reads(self, ctx: RuleContext, run: RunView) -> list[tuple[str, str]]:
        """The key columns ``(snapshot, column)`` that ``check`` will ask ``ctx.keys`` for on
        this run, so the audit can read them ahead, side by side; none by default."""
        return []

    def finding(self, run: RunView, message: str, evidence: dict[str, Any] | None = None, *,
                severity: Severity | None = None) -> Finding:
        level = self.level if severity is None else severity  # Severity.info is 0: test for None
        return Finding(self.slug, level.name, run.run_id, message, evidence or {})

    @classmethod
    def describe(cls) -> dict[str, Any]:
        doc = (cls.__doc__ or "").strip()
        return {"rule": cls.slug, "severity": cls.severity.name, "title": cls.title or doc.split("\n")[0],
                "description": doc, "options": dict(cls.options), "source": cls.__module__}


_REGISTRY: dict[str, type[Rule]] = {}
_plugins_loaded = False


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add a rule to the registry. A slug already taken by another class
    is refused (``ConfigError``): a plug-in never replaces a rule silently."""
    if not cls.slug:
        raise ConfigError(f"rule {cls.__module__}.{cls.__qualname__} has no slug")
    taken = _REGISTRY.get(cls.slug)
    if taken is not None and taken is not cls:
        raise ConfigError(f"rule slug {cls.slug!r} is already taken by {_name(taken)}")
    _REGISTRY[cls.slug] = cls
    return cls


def load() -> dict[str, type[Rule]]:
    """Every registered rule: the built-ins, then the entry-point plug-ins that load."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            problem = _load_plugin(ep)
            if problem:
                warnings.warn(f"rule plug-in {ep.name!r} ({ep.value}) skipped: {problem}",
                              RulePluginWarning, stacklevel=2)
    return dict(_REGISTRY)


def _load_plugin(ep: Any) -> str | None:
    """Register the rule an entry point names; what went wrong, if anything."""
    try:
        cls = ep.load()
    except Exception as exc:  # noqa: BLE001 - a broken plug-in must not hide the other rules
        return f"it failed to load ({type(exc).__name__}: {exc})"
    if not (isinstance(cls, type) and issubclass(cls, Rule)):
        return "it is not a lineage Rule class"
    if not cls.slug:
        return "its rule has no slug"
    taken = _REGISTRY.get(cls.slug)
    if taken is not None and taken is not cls:
        return f"its slug {cls.slug!r} is already taken by {_name(taken)}"
    _REGISTRY[cls.slug] = cls
    return None


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def catalogue() -> list[dict[str, Any]]:
    """Every rule's slug, default severity, description and options (``lineage rules``)."""
    return [cls.describe() for _, cls in sorted(load().items())]
