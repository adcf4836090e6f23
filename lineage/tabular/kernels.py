"""Compiled kernels of the ``lineage-fp-1`` encoding (numba), with the numpy path as reference.

``rowhash`` stays the reference implementation of ``schemas/FINGERPRINTS.md``; the
kernels (``lineage.tabular._jit``) compute exactly the same uint64 values in one pass over the memory (the
numpy path makes about seven passes per ``mix``), and release the GIL so batches can be
fingerprinted on several threads. They are compiled on first use and cached on disk
(numba ``cache=True``), so only the first table a machine ever hashes pays the compile.

``get()`` returns the kernels, or None when numba cannot be imported or compiled, or when
``LINEAGE_NO_JIT`` is set: then every caller takes the numpy path, whose results are the
same (tests compare the two on random tables of every type).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}


def enabled() -> bool:
    return not os.environ.get("LINEAGE_NO_JIT")


#: Values an array needs before the kernels are loaded for it: loading numba and the
#: cached kernels costs about a second of CPU and 150 MB of memory once per process,
#: which a small table does not repay (the numpy path gives the same values).
MIN_VALUES = 32_768


def get(n: int | None = None) -> Any:
    """The compiled kernels (a namespace), or None when they are not available, or not
    loaded yet and ``n`` (the values about to be hashed) is below ``MIN_VALUES``."""
    if not enabled():
        return None
    if "k" in _STATE:
        return _STATE["k"]
    if n is not None and n < MIN_VALUES:
        return None
    with _LOCK:
        if "k" not in _STATE:
            try:
                _STATE["k"] = _build()
            except Exception:  # noqa: BLE001 - no numba, or it cannot compile here: numpy path
                _STATE["k"] = None
    return _STATE["k"]


def _build() -> Any:
    """Import the kernels and run each once on a few values, so a numba that cannot
    compile (or load its cache) here shows now, and the numpy path is taken instead."""
    import numpy as np

    from lineage.tabular import _jit

    u = np.arange(3, dtype=np.uint64)
    a, b = np.empty(3, np.uint64), np.empty(3, np.uint64)
    f = np.array([0.5, -0.0, np.nan])
    _jit.hash_single(u, np.uint64(1), np.uint64(2), a, b)
    _jit.hash_tagged(u, u, np.zeros(3, np.uint8), u, u, a, b)
    _jit.float_bits(f, a.view(np.float64), a)
    _jit.snap(f, False, a.view(np.float64), a)
    _jit.bytes_payload(np.zeros(8, np.uint8), np.zeros(3, np.int64), np.ones(3, np.int64), a, b)
    _jit.combine_step(a, b, u, u, np.uint64(1), np.uint64(2))
    _jit.finish(a, b, np.uint64(3))
    _jit.finish16(a, b, np.uint64(3), np.empty((3, 16), np.uint8))
    _jit.hll_update(u, np.zeros(1 << 12, np.uint8))
    return _jit
