"""Named kill points, for the reliability suite.

``LINEAGE_FAULT=NAME`` (or ``NAME:N``, the N-th time the point is reached) makes the
process SIGKILL itself at that point, so tests can interrupt an operation exactly
where a power cut or an OOM kill could, and check that a rerun finishes the work and
that the store and the graph stay consistent. Unset, a point costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def point(name: str) -> None:
    spec = os.environ.get("LINEAGE_FAULT")
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
