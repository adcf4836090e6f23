"""Events: the append-only, content-addressed records the lineage graph is built from.

An event's ID is the BLAKE3 digest of its canonical encoding, which includes the IDs
of its parents (the heads of the log when it was written). The log is therefore a
Merkle DAG: changing any recorded event changes its ID and breaks every child's link
to it. Two clones that each append events simply end up with two heads; the next
event written after a merge names both as parents. Events are globally unique, so
merging is a set union and never conflicts.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import blake3

from lineage.core import canonical as _canonical

#: Bumped only if the event encoding itself changes.
EVENT_FORMAT = 1

#: Characters of a body's text encoded at a time while its event ID is computed.
_HASH_SLICE = 1 << 20


def utc_now() -> str:
    """The current time as ISO 8601 UTC with microseconds, e.g. 2026-11-29T18:04:10.123456Z."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Event:
    """One immutable record in the log."""

    type: str
    time: str
    actor: str
    parents: tuple[str, ...]
    body: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def body_json(self) -> str:
        """The body's canonical JSON text, computed once (a snapshot body can be megabytes)."""
        cached = self.__dict__.get("_body_json")
        if cached is None:
            cached = _canonical.dumps(self.body).decode("utf-8")
            object.__setattr__(self, "_body_json", cached)
        return cached

    def encode(self) -> bytes:
        """The canonical bytes the ID is computed over (and that are shipped to remotes).

        Canonical JSON of ``{actor, body, format, parents, time, type}``, assembled around
        the cached body text (keys in sorted order, exactly as a full encoding would be).
        """
        return b"".join(self._parts())

    def _parts(self) -> list[bytes]:
        head, tail = self._around()
        return [head, self.body_json.encode("utf-8"), tail]

    def _around(self) -> tuple[bytes, bytes]:
        """The encoding's bytes before and after the body's."""
        dumps = _canonical.dumps
        return (b'{"actor":' + dumps(self.actor) + b',"body":',
                b',"format":' + dumps(EVENT_FORMAT) + b',"parents":' + dumps(list(self.parents))
                + b',"time":' + dumps(self.time) + b',"type":' + dumps(self.type) + b"}")

    def compute_id(self) -> str:
        """``hash_bytes(self.encode())``, hashed part by part and the body a slice of text
        at a time (a body can be tens of megabytes: it is not encoded again whole)."""
        head, tail = self._around()
        h = blake3.blake3(head)
        text = self.body_json
        for i in range(0, len(text), _HASH_SLICE):  # UTF-8 of the slices, end to end, is the text's
            h.update(text[i:i + _HASH_SLICE].encode("utf-8"))
        h.update(tail)
        return h.hexdigest()

    @classmethod
    def create(cls, type: str, body: dict[str, Any], *, actor: str, parents: tuple[str, ...],
               time: str | None = None, body_json: str | None = None) -> Event:
        """``body_json``: the body's canonical JSON when the caller already has it (a
        snapshot writes its manifest's once); ``body`` is then what projectors read."""
        ev = cls(type=type, time=time or utc_now(), actor=actor, parents=tuple(sorted(parents)),
                 body=body)
        if body_json is not None:
            object.__setattr__(ev, "_body_json", body_json)
        out = cls(ev.type, ev.time, ev.actor, ev.parents, ev.body, ev.compute_id())
        object.__setattr__(out, "_body_json", ev.body_json)  # encoded once, not again on insert
        return out

    @classmethod
    def decode(cls, data: bytes) -> Event:
        raw = _canonical.loads(data)
        ev = cls(raw["type"], raw["time"], raw["actor"], tuple(raw["parents"]), raw["body"])
        return cls(ev.type, ev.time, ev.actor, ev.parents, ev.body, ev.compute_id())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "time": self.time, "actor": self.actor,
                "parents": list(self.parents), "body": self.body}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(d["type"], d["time"], d["actor"], tuple(d["parents"]), d["body"], d.get("id", ""))
