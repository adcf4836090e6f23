"""Compiled kernels of the ``lineage-fp-1`` encoding, with the numpy path as reference.

``rowhash`` stays the reference implementation of ``schemas/FINGERPRINTS.md``; the
kernels compute exactly the same uint64 values in one pass over the memory (the numpy
path makes about seven passes per ``mix``), and release the GIL so batches can be
fingerprinted on several threads. Two builds of the same functions:

- ``c``: ``lineage/tabular/_kernels.c``, compiled once per machine with the system C
  compiler (``$CC`` or ``cc``; tuned for the machine's CPU where it can) into a cache
  folder (``cache_dir``) and loaded through ``ctypes``, which lets go of the GIL during
  each call. Loading it costs a ``dlopen`` (about 1 MB), compiling it once about a second.
- ``numba``: ``lineage.tabular._jit``, compiled on first use and cached on disk
  (``cache=True``); importing numba and loading its kernels costs about 0.6 s of CPU and
  some 120-140 MB of resident memory (LLVM), so it is the fallback where no C compiler is.

``get()`` returns the first that loads (``LINEAGE_KERNELS=numba`` or ``=c`` picks one), or
None when neither does, or when ``LINEAGE_NO_JIT`` is set: then every caller takes the
numpy path, whose results are the same (tests compare the paths on random tables of every
type).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}
_SOURCE = Path(__file__).with_name("_kernels.c")
#: Flags of the C build: plain IEEE double arithmetic (no fast-math, no fused multiply-add),
#: so the float steps give numpy's bits.
CFLAGS = ("-O3", "-std=gnu99", "-fPIC", "-shared", "-fno-fast-math", "-ffp-contract=off",
          "-fno-strict-aliasing", "-fno-trapping-math")  # no traps: lets floor() vectorise
#: Tuned for the machine's own instruction set (64-bit vector multiplies where it has them:
#: each splitmix64 step is two multiplies), tried first; the library's name carries the
#: CPU's feature flags, so a cache folder shared between machines keeps one per kind.
NATIVE = ("-march=native",)


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def enabled() -> bool:
    return not os.environ.get("LINEAGE_NO_JIT")


#: Values an array needs before the kernels are loaded for it: a small table does not
#: repay a first compile (the numpy path gives the same values).
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
            _STATE["k"] = _load()
    return _STATE["k"]


def _load() -> Any:
    wanted = os.environ.get("LINEAGE_KERNELS", "").strip().lower()
    builders = {"c": _build_c, "numba": _build_numba}
    order = [wanted] if wanted in builders else ["c", "numba"]
    for name in order:
        try:
            return builders[name]()
        except Exception:  # noqa: BLE001 - no compiler, no numba, or it cannot load here: next
            continue
    return None


# -- the C build ------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where the compiled library is kept: ``$LINEAGE_KERNEL_CACHE``; else, in a virtual
    environment one may write to, its ``var/cache/lineage`` (so it outlives changes of
    ``HOME``); else ``$XDG_CACHE_HOME/lineage`` or ``~/.cache/lineage``."""
    explicit = os.environ.get("LINEAGE_KERNEL_CACHE")
    if explicit:
        return Path(explicit)
    if sys.prefix != sys.base_prefix and os.access(sys.prefix, os.W_OK):
        return Path(sys.prefix) / "var" / "cache" / "lineage"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lineage"


def _library_path() -> Path:
    """The compiled library, built now if this source, these flags and this machine have
    none yet (written under a temporary name and renamed, so concurrent builds are safe)."""
    import platform

    cc = os.environ.get("CC") or "cc"
    source = _SOURCE.read_bytes()
    folder = cache_dir()
    for extra in (NATIVE, ()):
        key = hashlib.sha256(source + repr((cc, CFLAGS, extra, platform.machine(), _cpu_flags() if extra else ""))
                             .encode()).hexdigest()[:16]
        target = folder / f"_kernels-{key}-{platform.machine()}.so"
        if target.exists():
            return target
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            done = subprocess.run([cc, *CFLAGS, *extra, "-o", str(tmp), str(_SOURCE), "-lm"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            if done.returncode == 0:
                os.replace(tmp, target)
                return target
        finally:
            if tmp.exists():
                tmp.unlink()
    raise OSError("the C kernels do not compile here")


class CKernels:
    """The C kernels behind the numba kernels' signatures (numpy arrays in, results
    written into the output arrays), plus ``distinct_strings``."""

    BACKEND = "c"

    def __init__(self, lib: Any) -> None:
        import ctypes

        import numpy as np

        self._np = np
        vp, i64, u64, c_int = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint64, ctypes.c_int
        sigs = {
            "hash_single": [vp, u64, u64, vp, vp, i64],
            "hash_tagged": [vp, vp, vp, vp, vp, vp, vp, i64],
            "float_bits": [vp, vp, i64],
            "bytes_payload": [vp, vp, vp, vp, vp, i64],
            "combine_step": [vp, vp, vp, vp, u64, u64, i64],
            "finish": [vp, vp, u64, i64],
            "finish16": [vp, vp, u64, vp, i64],
            "snap": [vp, c_int, vp, i64],
            "hll_update": [vp, vp, i64],
            "hll_update_valid": [vp, vp, vp, i64],
            "hll_update_max": [vp, vp, vp, i64],
            "distinct_strings": [vp, vp, vp, vp, i64, vp, vp],
            "distinct_strings32": [vp, i64, vp, vp, i64, vp, vp, vp, i64],
            "float_column": [vp, vp, u64, u64, u64, u64, vp, vp, vp, vp, vp, vp, u64, u64, i64],
            "combine_many": [vp, vp, i64, vp, vp, u64, u64, i64],
            "string_hashes32": [vp, i64, vp, i64, u64, u64, vp, vp],
            "int_hashes": [vp, vp, u64, u64, u64, u64, u64, u64, vp, vp, i64],
            "quantile_merge": [vp, vp, i64, vp, vp, i64, i64, vp, vp, vp, vp],
            "finish16_sum": [vp, vp, u64, vp, i64, u64, u64, vp],
            "keys16_build": [vp, i64, vp, i64, vp, vp, c_int],
            "keys16_probe": [vp, vp, i64, vp, c_int, vp, i64, i64, vp, vp],
            "keys16_marked": [vp, vp, vp, i64],
        }
        for name, args in sigs.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = i64 if name in ("distinct_strings", "distinct_strings32", "string_hashes32",
                                         "quantile_merge", "keys16_build", "keys16_probe") else None
        self._lib = lib
        self.constants = list((u64 * 10).in_dll(lib, "lineage_constants"))

    def _in(self, a, dtype) -> Any:
        """A read-only argument: contiguous and of ``dtype`` (copied only if not)."""
        return self._np.ascontiguousarray(a, dtype=dtype)

    def _out(self, a, dtype) -> int:
        """An output argument: must already be contiguous and of ``dtype`` (written in place)."""
        if a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
            raise TypeError("kernel output must be a writable contiguous array of the right type")
        return a.ctypes.data

    @staticmethod
    def _check_strings(data, offsets, lengths) -> None:
        """Values inside their data: offsets and lengths as ``rowhash._binary_buffers`` gives
        them (each value starting where the one before ends), so checking the ends will do."""
        n = len(lengths)
        if len(offsets) != n or (n and (int(offsets[0]) < 0 or int(lengths.min()) < 0
                                        or int(offsets[-1]) + int(lengths[-1]) > len(data)
                                        or int(offsets[-1]) - int(offsets[0]) + int(lengths[-1])
                                        != int(lengths.sum()))):
            raise ValueError("string offsets outside their data")

    def hash_single(self, p, k0, k1, out0, out1) -> None:
        np = self._np
        p = self._in(p, np.uint64)
        self._lib.hash_single(p.ctypes.data, int(k0), int(k1), self._out(out0, np.uint64),
                              self._out(out1, np.uint64), len(p))

    def hash_tagged(self, p0, p1, tags, keys0, keys1, out0, out1) -> None:
        np = self._np
        p0, p1, tags = self._in(p0, np.uint64), self._in(p1, np.uint64), self._in(tags, np.uint8)
        keys0, keys1 = self._in(keys0, np.uint64), self._in(keys1, np.uint64)
        if len(keys0) < 13 or len(keys1) < 13 or (len(tags) and int(tags.max()) >= len(keys0)):
            raise ValueError("a tag without a key")
        self._lib.hash_tagged(p0.ctypes.data, p1.ctypes.data, tags.ctypes.data, keys0.ctypes.data,
                              keys1.ctypes.data, self._out(out0, np.uint64), self._out(out1, np.uint64),
                              len(p0))

    def float_bits(self, f, outf, outu) -> None:
        np = self._np
        f = self._in(f, np.float64)
        self._lib.float_bits(f.ctypes.data, self._out(outu, np.uint64), len(f))

    def snap(self, f, shifted, outf, outu) -> None:
        np = self._np
        f = self._in(f, np.float64)
        self._lib.snap(f.ctypes.data, 1 if shifted else 0, self._out(outu, np.uint64), len(f))

    def bytes_payload(self, data, offsets, lengths, out0, out1) -> None:
        np = self._np
        data, offsets, lengths = self._in(data, np.uint8), self._in(offsets, np.int64), self._in(lengths, np.int64)
        n = len(lengths)
        self._check_strings(data, offsets, lengths)
        self._lib.bytes_payload(data.ctypes.data, offsets.ctypes.data, lengths.ctypes.data,
                                self._out(out0, np.uint64), self._out(out1, np.uint64), n)

    def combine_step(self, acc0, acc1, v0, v1, n0, n1) -> None:
        np = self._np
        v0, v1 = self._in(v0, np.uint64), self._in(v1, np.uint64)
        n = len(acc0)
        if len(acc1) != n or len(v0) != n or len(v1) != n:
            raise ValueError("lanes of different lengths")
        self._lib.combine_step(self._out(acc0, np.uint64), self._out(acc1, np.uint64), v0.ctypes.data,
                               v1.ctypes.data, int(n0), int(n1), n)

    def finish(self, acc0, acc1, ncols) -> None:
        np = self._np
        if len(acc1) != len(acc0):
            raise ValueError("lanes of different lengths")
        self._lib.finish(self._out(acc0, np.uint64), self._out(acc1, np.uint64), int(ncols), len(acc0))

    def finish16(self, acc0, acc1, ncols, out) -> None:
        np = self._np
        acc0, acc1 = self._in(acc0, np.uint64), self._in(acc1, np.uint64)
        if len(acc1) != len(acc0) or out.size != 16 * len(acc0):
            raise ValueError("lanes of different lengths")
        self._lib.finish16(acc0.ctypes.data, acc1.ctypes.data, int(ncols), self._out(out, np.uint8), len(acc0))

    def hll_update(self, hashes, registers, valid=None) -> None:
        np = self._np
        hashes = self._in(hashes, np.uint64)
        if len(registers) != 1 << 12:
            raise ValueError("HyperLogLog registers of the wrong size")
        if valid is None:
            self._lib.hll_update(hashes.ctypes.data, self._out(registers, np.uint8), len(hashes))
            return
        valid = self._in(valid, np.bool_)
        if len(valid) != len(hashes):
            raise ValueError("validity of another length")
        self._lib.hll_update_valid(hashes.ctypes.data, valid.ctypes.data, self._out(registers, np.uint8),
                                   len(hashes))

    def float_column(self, f, valid, knum, znull, v0, v1, near, shift, name) -> None:
        """A float column's exact value hashes into ``v0``, ``v1``, and its snapped values
        folded into the near keys' accumulators ``near`` and ``shift`` (pairs of lanes)
        under the column's name key ``name``. ``f``: the values as float64 (nulls 0.0),
        ``valid``: a boolean mask or None; ``knum`` = K[T_NUM], ``znull`` = mix(K[T_NULL])."""
        np = self._np
        f = self._in(f, np.float64)
        n = len(f)
        vp = 0
        if valid is not None:
            valid = self._in(valid, np.bool_)
            if len(valid) != n:
                raise ValueError("validity of another length")
            vp = valid.ctypes.data
        if len(v0) != n or len(v1) != n:
            raise ValueError("lanes of different lengths")
        lanes = (*near, *shift)
        if any(len(a) != n for a in lanes):
            raise ValueError("lanes of different lengths")
        ptrs = [self._out(a, np.uint64) for a in lanes]
        self._lib.float_column(f.ctypes.data, vp, int(knum[0]), int(knum[1]), int(znull[0]), int(znull[1]),
                               self._out(v0, np.uint64), self._out(v1, np.uint64), *ptrs,
                               int(name[0]), int(name[1]), n)

    def combine_many(self, accs, v0, v1, n0, n1) -> None:
        """``combine_step`` of one column's hashes into every (acc0, acc1) of ``accs``."""
        import ctypes

        np = self._np
        v0, v1 = self._in(v0, np.uint64), self._in(v1, np.uint64)
        n = len(v0)
        if len(v1) != n or any(len(a) != n for pair in accs for a in pair):
            raise ValueError("lanes of different lengths")
        p0 = (ctypes.c_void_p * len(accs))(*[self._out(a, np.uint64) for a, _ in accs])
        p1 = (ctypes.c_void_p * len(accs))(*[self._out(b, np.uint64) for _, b in accs])
        self._lib.combine_many(p0, p1, len(accs), v0.ctypes.data, v1.ctypes.data, int(n0), int(n1), n)

    def hll_update_max(self, hashes, registers, valid=None) -> None:
        """``hll_update`` with no branch per value (the same registers): faster where the
        registers rise often, e.g. fresh ones for one batch."""
        np = self._np
        hashes = self._in(hashes, np.uint64)
        if len(registers) != 1 << 12:
            raise ValueError("HyperLogLog registers of the wrong size")
        vptr = None
        if valid is not None:
            valid = self._in(valid, np.bool_)
            if len(valid) != len(hashes):
                raise ValueError("validity of another length")
            vptr = valid.ctypes.data
        self._lib.hll_update_max(hashes.ctypes.data, vptr, self._out(registers, np.uint8), len(hashes))

    def distinct_strings(self, arr, hashes):
        """(first, counts): the index of each distinct value of ``arr`` (an Arrow string or
        binary array, large or not) in first-seen order, and its count; ``hashes`` (one
        uint64 per value, equal for equal bytes) place the values. For arrays without nulls (a
        null would count as the bytes of its slot)."""
        import pyarrow as pa

        np = self._np
        t = arr.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
                or pa.types.is_large_binary(t)):
            raise TypeError("distinct_strings counts string or binary arrays")
        large = pa.types.is_large_string(t) or pa.types.is_large_binary(t)
        bufs = arr.buffers()
        ends = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32,
                             count=arr.offset + len(arr) + 1)[arr.offset:].astype(np.int64)
        data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
        offsets, lengths = ends[:-1], np.diff(ends)
        hashes = self._in(hashes, np.uint64)
        n = len(lengths)
        self._check_strings(data, offsets, lengths)
        if len(hashes) != n:
            raise ValueError("hashes of another length")
        first, counts = np.empty(n, np.int64), np.empty(n, np.int64)
        d = self._lib.distinct_strings(data.ctypes.data, offsets.ctypes.data, lengths.ctypes.data,
                                       hashes.ctypes.data, n, first.ctypes.data, counts.ctypes.data)
        if d < 0:
            raise MemoryError("no memory for the distinct values of a batch")
        return first[:d].copy(), counts[:d].copy()  # right-sized: a batch's counts are kept a while


    def distinct_strings_into(self, arr, hashes, first, counts, table) -> int:
        """``distinct_strings`` of a string array with 32-bit offsets (``pa.string()``, no
        nulls) written into buffers the caller keeps between batches: ``first`` and
        ``counts`` (int64, at least ``len(arr)``) and the hash ``table`` (int32, a power of
        two of at least ``2 * len(arr)`` slots). Returns the number of distinct values."""
        import pyarrow as pa

        np = self._np
        if not pa.types.is_string(arr.type):
            raise TypeError("distinct_strings_into counts string arrays")
        n = len(arr)
        ends, data, _ = self._string_buffers(arr)
        hashes = self._in(hashes, np.uint64)
        if len(hashes) != n:
            raise ValueError("hashes of another length")
        if len(first) < n or len(counts) < n:
            raise ValueError("output buffers too short")
        d = self._lib.distinct_strings32(data.ctypes.data, len(data), ends.ctypes.data, hashes.ctypes.data, n,
                                         self._out(first, np.int64), self._out(counts, np.int64),
                                         self._out(table, np.int32), len(table))
        if d == -1:
            raise ValueError("a hash table of the wrong size")
        if d < 0:
            raise ValueError("string offsets outside their data")
        return d

    def _string_buffers(self, arr):
        """(offsets, data, data length) of a ``pa.string()`` array, as numpy views of its
        buffers: the ``len(arr) + 1`` int32 offsets from its own, and its bytes (one zero
        byte standing in for an array with no data buffer, whose length is then 0)."""
        np = self._np
        bufs = arr.buffers()
        ends = np.frombuffer(bufs[1], dtype=np.int32, count=arr.offset + len(arr) + 1)[arr.offset:]
        if bufs[2] is None:
            return ends, np.zeros(1, np.uint8), 0
        data = np.frombuffer(bufs[2], dtype=np.uint8)
        return ends, data, len(data)

    def string_hashes(self, arr, key0, key1, out0, out1) -> bool:
        """Value hashes of a string array with 32-bit offsets (``pa.string()``) under the
        keys ``key0``, ``key1`` into ``out0``, ``out1``, as ``bytes_payload`` and
        ``hash_single`` give them. Returns whether every byte is ASCII (if not, the text may
        need NFC first, and the caller hashes the normalised text instead)."""
        import pyarrow as pa

        np = self._np
        if not pa.types.is_string(arr.type):
            raise TypeError("string_hashes hashes string arrays")
        n = len(arr)
        ends, data, length = self._string_buffers(arr)
        if len(out0) != n or len(out1) != n:
            raise ValueError("lanes of different lengths")
        r = self._lib.string_hashes32(data.ctypes.data, length,
                                      ends.ctypes.data, n, int(key0), int(key1),
                                      self._out(out0, np.uint64), self._out(out1, np.uint64))
        if r < 0:
            raise ValueError("string offsets outside their data")
        return r == 0

    def int_hashes(self, v, valid, knum, kint, znull, out0, out1) -> None:
        """Value hashes of signed integers ``v`` (int64; nulls any value where ``valid``, a
        boolean mask or None, is false) as ``rowhash.canonical`` and ``hash_tagged`` give
        them: ``knum`` = K[T_NUM], ``kint`` = K[T_INT], ``znull`` = mix(K[T_NULL]) (pairs)."""
        np = self._np
        v = self._in(v, np.int64)
        n = len(v)
        vp = None
        if valid is not None:
            valid = self._in(valid, np.bool_)
            if len(valid) != n:
                raise ValueError("validity of another length")
            vp = valid.ctypes.data
        if len(out0) != n or len(out1) != n:
            raise ValueError("lanes of different lengths")
        self._lib.int_hashes(v.ctypes.data, vp, int(knum[0]), int(knum[1]), int(kint[0]), int(kint[1]),
                             int(znull[0]), int(znull[1]), self._out(out0, np.uint64),
                             self._out(out1, np.uint64), n)

    def finish16_sum(self, acc0, acc1, ncols, out, salts) -> tuple[int, int]:
        """``finish16``, and the two lanes' sums of ``rowskey.rows_key`` over the keys written
        (``salts``: its per-lane salts)."""
        np = self._np
        acc0, acc1 = self._in(acc0, np.uint64), self._in(acc1, np.uint64)
        if len(acc1) != len(acc0) or out.size != 16 * len(acc0):
            raise ValueError("lanes of different lengths")
        sums = np.zeros(2, np.uint64)
        self._lib.finish16_sum(acc0.ctypes.data, acc1.ctypes.data, int(ncols), self._out(out, np.uint8), len(acc0),
                               int(salts[0]), int(salts[1]), sums.ctypes.data)
        return int(sums[0]), int(sums[1])

    def quantile_merge(self, a, b, k: int):
        """``profile.QuantileSummary._merge`` of the sorted weighted samples ``a`` and ``b``
        ((values, weights) pairs of float64): the same points and weights."""
        np = self._np
        av, aw, bv, bw = (self._in(x, np.float64) for x in (*a, *b))
        na, nb = len(av), len(bv)
        if len(aw) != na or len(bw) != nb:
            raise ValueError("values and weights of different lengths")
        mv, mw = np.empty(na + nb), np.empty(na + nb)
        ov, ow = np.empty(min(na + nb, k)), np.empty(min(na + nb, k))
        m = self._lib.quantile_merge(av.ctypes.data, aw.ctypes.data, na, bv.ctypes.data, bw.ctypes.data, nb,
                                     int(k), mv.ctypes.data, mw.ctypes.data, ov.ctypes.data, ow.ctypes.data)
        return ov[:m], ow[:m]

    def members16(self, build, probe, *, build_mask: bool = False, probe_mask: bool = True, threads: int = 1):
        """(mask over ``build``, mask over ``probe``): which 16-byte keys (``V16``) of each side
        occur on the other, exact (all 16 bytes compared), from one hash table of ``build``'s
        distinct keys (``KeyTable16``) probed once with every key of ``probe``; a mask not
        asked for is None. ``threads`` > 1 probes that many slices of ``probe`` at once (the
        GIL is let go)."""
        np = self._np
        table = KeyTable16(self, build)
        p = table.probe_keys(probe)
        n = len(p) // 2
        out = np.empty(n, dtype=np.uint8) if probe_mask else None
        threads = max(1, min(int(threads), n // (1 << 16) or 1))
        if threads == 1:
            table.probe_range(p, 0, n, out)
        else:
            from concurrent.futures import ThreadPoolExecutor

            cuts = [n * k // threads for k in range(threads + 1)]
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda lo, hi: table.probe_range(p, lo, hi, out), cuts[:-1], cuts[1:]))
        return (table.marked() if build_mask else None), (out.view(bool) if probe_mask else None)

    def key_table(self, build) -> KeyTable16:
        """A hash table of ``build``'s 16-byte keys to probe batch after batch (``KeyTable16``)."""
        return KeyTable16(self, build)


class KeyTable16:
    """The hash table of ``CKernels.members16``, kept: ``probe`` batches of keys (from
    several threads at once if need be), then ``marked`` tells which build keys some batch
    held. Exact: every match compares all 16 bytes."""

    def __init__(self, kernels: CKernels, build) -> None:
        np = kernels._np
        self._np, self._lib = np, kernels._lib
        self._b = b = np.ascontiguousarray(build).view(np.uint64).reshape(-1)
        nb = len(b) // 2
        if len(b) != 2 * len(build) or nb >= 0xFFFFFFFF:
            raise ValueError("keys of 16 bytes expected, fewer than 2^32 of them")
        self.size = 1 << max(4, int(2 * nb - 1).bit_length())
        self.fbits = min(26, max(12, int(16 * nb).bit_length()))
        self._table = np.empty(2 * self.size, dtype=np.uint32)
        self._filter = np.empty((1 << self.fbits) // 64, dtype=np.uint64)
        self._slot_of = np.empty(nb, dtype=np.uint32)
        self._hit = np.zeros(self.size, dtype=np.uint8)
        if self._lib.keys16_build(b.ctypes.data, nb, self._table.ctypes.data, self.size, self._slot_of.ctypes.data,
                                  self._filter.ctypes.data, self.fbits) < 0:
            raise ValueError("a hash table of the wrong size")

    def probe(self, keys, rows: bool = False):
        """Mark the build keys found among ``keys`` (16-byte keys); with ``rows``, also return
        the mask over ``keys`` of those found (else None)."""
        np = self._np
        out = np.empty(len(keys), dtype=np.uint8) if rows else None
        self.probe_range(self.probe_keys(keys), 0, len(keys), out)
        return out.view(bool) if rows else None

    def probe_keys(self, keys):
        """``keys`` (16-byte keys) as the uint64 pairs ``probe_range`` reads."""
        p = self._np.ascontiguousarray(keys).view(self._np.uint64).reshape(-1)
        if len(p) != 2 * len(keys):
            raise ValueError("keys of 16 bytes expected")
        return p

    def probe_range(self, p, lo: int, hi: int, out=None) -> None:
        """Probe keys ``lo .. hi`` of ``p`` (``probe_keys``), marking the build keys found and,
        where ``out`` (uint8, one a key) is given, which of them were found. Threads may
        probe disjoint ranges at once."""
        self._lib.keys16_probe(self._b.ctypes.data, self._table.ctypes.data, self.size, self._filter.ctypes.data,
                               self.fbits, p.ctypes.data, lo, hi, self._hit.ctypes.data,
                               out.ctypes.data if out is not None else None)

    def marked(self):
        """Mask over the build keys: which some probed batch held."""
        np = self._np
        out = np.empty(len(self._slot_of), dtype=np.uint8)
        self._lib.keys16_marked(self._slot_of.ctypes.data, self._hit.ctypes.data, out.ctypes.data, len(out))
        return out.view(bool)


def _build_c() -> CKernels:
    import ctypes

    if sys.byteorder != "little":
        raise OSError("the C kernels read words little-endian")
    return CKernels(ctypes.CDLL(str(_library_path())))


# -- the numba build --------------------------------------------------------------------

def _build_numba() -> Any:
    """Import the numba kernels and run each once on a few values, so a numba that cannot
    compile (or load its cache) here shows now, and the next build is taken instead."""
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
