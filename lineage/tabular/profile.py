"""Column profiles for drift: streaming accumulators, their JSON form, and merging.

A numeric (or temporal) column keeps count, nulls, NaN/inf counts, min, max, mean,
standard deviation, a distinct-count estimate and 257 quantiles (0, 1/256, ..., 1)
from a mergeable quantile summary. A categorical column keeps the top-k values with
their counts, the count of the rest, and the distinct count (exact while small,
HyperLogLog beyond). That is enough for KS, Wasserstein, PSI and Jensen-Shannon
between two snapshots without reading the data again (see ``lineage.tabular.drift``).
"""

from __future__ import annotations

import math
import threading
from typing import Any

QUANTILES = 257
SUMMARY_POINTS = 4096
TOP_K = 50
EXACT_DISTINCT = 100_000
#: Categorical counts of this many values (summed over batches) are merged in one go.
MERGE_VALUES = 2 * EXACT_DISTINCT
#: Heaviest first, ties by value (UTF-8 byte order, as Python orders ``str``).
_BY_COUNT = [("counts", "descending"), ("values", "ascending")]
HLL_P = 12
#: Text batches up to this many values are counted in buffers each thread keeps (about
#: 24 bytes a value); larger ones in buffers of their own.
SCRATCH_VALUES = 1 << 18


def _np():
    import numpy as np

    return np


# -- quantile summary -------------------------------------------------------------

def _compress(values, weights, k: int):
    """At most ``k`` points of equal weight at evenly spaced ranks of a weighted sample."""
    np = _np()
    if len(values) <= k:
        return values, weights
    cw = np.cumsum(weights)
    total = cw[-1]
    targets = (np.arange(k) + 0.5) * (total / k)
    idx = np.searchsorted(cw, targets, side="left")
    idx = np.minimum(idx, len(values) - 1)
    return values[idx], np.full(k, total / k)


class QuantileSummary:
    """Mergeable weighted sample; levels merged pairwise so rank error stays O(log n / k)."""

    def __init__(self, k: int = SUMMARY_POINTS) -> None:
        self.k = k
        self.levels: list[tuple[Any, Any] | None] = []

    def add(self, values) -> None:
        self.add_item(self.item(values))

    def item(self, values):
        """The compressed sample of one batch (no state: may run on any thread), or None."""
        np = _np()
        if len(values) == 0:
            return None
        v = np.sort(np.asarray(values, dtype=np.float64))
        n, k = len(v), self.k
        if n <= k:
            return v, np.ones(n)
        # ``_compress`` of unit weights, without their cumulative sum: the point at rank t
        # is the first index i with i + 1 >= t (the same indices, exactly)
        targets = (np.arange(k) + 0.5) * (float(n) / k)
        idx = np.minimum(np.ceil(targets).astype(np.int64) - 1, n - 1)
        return v[idx], np.full(k, float(n) / k)

    def add_item(self, item) -> None:
        """Merge a batch's ``item`` in (in batch order, so the summary is deterministic)."""
        if item is None:
            return
        level = 0
        while True:
            if level == len(self.levels):
                self.levels.append(item)
                return
            if self.levels[level] is None:
                self.levels[level] = item
                return
            item = self._merge(self.levels[level], item)
            self.levels[level] = None
            level += 1

    def _merge(self, a, b):
        np = _np()
        from lineage.tabular import kernels

        k = kernels.get(len(a[0]) + len(b[0]))
        if k is not None and hasattr(k, "quantile_merge"):
            return k.quantile_merge(a, b, self.k)  # one merge of the two sorted samples, no sort
        v = np.concatenate([a[0], b[0]])
        w = np.concatenate([a[1], b[1]])
        order = np.argsort(v, kind="stable")
        return _compress(v[order], w[order], self.k)

    def points(self):
        np = _np()
        items = [x for x in self.levels if x is not None]
        if not items:
            return np.zeros(0), np.zeros(0)
        v = np.concatenate([x[0] for x in items])
        w = np.concatenate([x[1] for x in items])
        order = np.argsort(v, kind="stable")
        return v[order], w[order]


def weighted_quantiles(values, weights, n: int = QUANTILES) -> list[float]:
    """Quantiles at 0, 1/(n-1), ..., 1 of a sorted weighted sample (inverse of the step CDF,
    so discrete data keeps its values)."""
    np = _np()
    if len(values) == 0:
        return []
    cw = np.cumsum(weights)
    cdf = cw / cw[-1]
    probs = np.linspace(0.0, 1.0, n)
    idx = np.minimum(np.searchsorted(cdf, probs - 1e-12, side="left"), len(values) - 1)
    q = np.asarray(values, dtype=np.float64)[idx]
    q[0], q[-1] = values[0], values[-1]
    return [float(x) for x in q]


# -- HyperLogLog ------------------------------------------------------------------

def hll_add(registers, hashes, valid=None) -> None:
    """Add ``hashes`` (those where ``valid``, a boolean mask, is true) to the registers."""
    np = _np()
    if len(hashes) == 0:
        return
    h = np.asarray(hashes, dtype=np.uint64)
    from lineage.tabular import kernels

    k = kernels.get(len(h))
    if k is not None and k.BACKEND == "c":
        # no branch per value: a batch's fresh registers rise often and unpredictably
        (k.hll_update_max if hasattr(k, "hll_update_max") else k.hll_update)(h, registers, valid)
        return
    if valid is not None:
        h = h[valid]
    if k is not None:
        k.hll_update(np.ascontiguousarray(h), registers)
        return
    idx = (h >> np.uint64(64 - HLL_P)).astype(np.int64)
    rest = (h << np.uint64(HLL_P)) | np.uint64(1 << (HLL_P - 1))
    _, exp = np.frexp(rest.astype(np.float64))
    rho = (65 - exp).astype(np.uint8)
    np.maximum.at(registers, idx, rho)


def hll_estimate(registers) -> int:
    np = _np()
    m = len(registers)
    alpha = 0.7213 / (1 + 1.079 / m)
    est = alpha * m * m / float(np.sum(np.power(2.0, -registers.astype(np.float64))))
    zeros = int(np.count_nonzero(registers == 0))
    if est <= 2.5 * m and zeros:
        est = m * math.log(m / zeros)
    return int(round(est))


# -- accumulators -----------------------------------------------------------------

def column_kind(t) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        return column_kind(t.value_type)
    if pa.types.is_boolean(t):
        return "categorical"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "temporal"
    if (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return "categorical"
    return "other"


class ColumnProfiler:
    """Streams one column's batches into a profile dict."""

    def __init__(self, name: str, type_str: str, kind: str) -> None:
        np = _np()
        self.name, self.type, self.kind = name, type_str, kind
        self.rows = 0
        self.nulls = 0
        self.registers = np.zeros(1 << HLL_P, np.uint8)
        # numeric
        self.n = 0
        self.nan = 0
        self.inf = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.summary = QuantileSummary()
        # categorical: the merged counts (an Arrow table of values and counts, or None)
        # and the batches' counts not merged yet (merged in bulk, see ``MERGE_VALUES``)
        self.counts = None
        self.pending: list[Any] = []
        self.pending_values = 0
        self.exact = True

    def update(self, arr, v0) -> None:
        self.apply(self.partial(arr, v0))

    def partial(self, arr, v0) -> dict[str, Any]:
        """What one batch adds, computed without touching the profiler's state (so batches
        can be profiled on worker threads); ``apply`` merges it in, in batch order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        np = _np()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        part: dict[str, Any] = {"rows": len(arr), "nulls": arr.null_count}
        valid = arr.is_valid().to_numpy(zero_copy_only=False) if arr.null_count else None
        registers = np.zeros(1 << HLL_P, np.uint8)
        hll_add(registers, v0, valid)
        part["registers"] = registers
        if self.kind in ("numeric", "temporal"):
            x = _as_float(arr)
            if valid is not None:
                x = x[valid]
            # integers and times convert to finite floats: nothing to look for
            finite = None if _always_finite(arr.type) else np.isfinite(x)
            if finite is None or finite.all():  # the usual case: no NaN or infinity to count or drop
                part["nan"] = part["inf"] = 0
            else:
                nan = int(np.isnan(x).sum())
                part["nan"] = nan
                part["inf"] = int((~finite).sum()) - nan
                x = x[finite]
            if len(x):
                bmean = float(x.mean())
                dev = x - bmean
                np.multiply(dev, dev, out=dev)  # (x - mean) ** 2, the same values, one array
                part["moments"] = (len(x), bmean, float(dev.sum()), float(x.min()), float(x.max()))
                del dev
                part["item"] = self.summary.item(x)
        elif self.kind == "categorical":
            if pa.types.is_dictionary(arr.type):
                arr = arr.dictionary_decode()
            if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
                arr = pc.binary_length(arr)  # bytes have no readable categories; profile lengths
            part["vc"] = _value_counts(arr, v0)
        return part

    def apply(self, part: dict[str, Any]) -> None:
        """Merge a batch's ``partial`` into the profile."""
        import pyarrow.compute as pc

        np = _np()
        self.rows += part["rows"]
        self.nulls += part["nulls"]
        np.maximum(self.registers, part["registers"], out=self.registers)
        if self.kind in ("numeric", "temporal"):
            self.nan += part["nan"]
            self.inf += part["inf"]
            if "moments" in part:
                bn, bmean, bm2, lo, hi = part["moments"]
                tot = self.n + bn
                delta = bmean - self.mean
                self.mean += delta * bn / tot
                self.m2 += bm2 + delta * delta * self.n * bn / tot
                self.n = tot
                self.min = lo if self.min is None else min(self.min, lo)
                self.max = hi if self.max is None else max(self.max, hi)
                self.summary.add_item(part["item"])
        elif self.kind == "categorical":
            vc = part["vc"]
            if not self.exact and len(vc) > TOP_K * 20:
                # past the exact limit only a batch's heaviest values can reach the top k
                keep = pc.select_k_unstable(vc.field("counts"), k=TOP_K * 20, sort_keys=[("dummy", "descending")])
                vc = vc.take(keep)
            elif isinstance(vc, _Distinct):
                vc = vc.struct()
            self.pending.append(vc)
            self.pending_values += len(vc)
            if self.pending_values > MERGE_VALUES:
                self._merge_counts()

    def _merge_counts(self) -> None:
        """Add the pending batches' counts to the merged ones (Arrow dictionary encoding and
        a numpy bincount, no Python loop); past ``EXACT_DISTINCT`` values keep the heaviest
        tenth (ties in first-seen order, so the result is deterministic), and the counts of
        the rest become approximate."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if not self.pending:
            return
        np = _np()
        values = [vc.field("values").cast(pa.large_string()) for vc in self.pending]
        counts = [vc.field("counts").cast(pa.int64()) for vc in self.pending]
        if self.counts is not None:
            values.insert(0, self.counts.column("values").combine_chunks())
            counts.insert(0, self.counts.column("counts").combine_chunks())
        self.pending, self.pending_values = [], 0
        v, c = pa.concat_arrays(values), pa.concat_arrays(counts)
        if v.null_count:
            keep = pc.is_valid(v)
            v, c = v.filter(keep), c.filter(keep)
        # sum the counts of equal values: their dictionary (in first-seen order) and a bincount
        d = pc.dictionary_encode(v)
        sums = np.bincount(d.indices.to_numpy(zero_copy_only=False), weights=c.to_numpy(zero_copy_only=False),
                           minlength=len(d.dictionary))
        t = pa.table({"values": d.dictionary, "counts": pa.array(sums.astype(np.int64))})
        if t.num_rows > EXACT_DISTINCT:
            keep = pc.select_k_unstable(t.column("counts"), k=EXACT_DISTINCT // 10,
                                        sort_keys=[("dummy", "descending")])
            t = t.take(np.sort(keep.to_numpy()))  # the heaviest, in first-seen order
            self.exact = False
        self.counts = t

    def result(self) -> dict[str, Any]:
        base: dict[str, Any] = {"name": self.name, "type": self.type, "kind": self.kind,
                                "count": self.rows, "nulls": self.nulls}
        if self.kind in ("numeric", "temporal"):
            v, w = self.summary.points()
            quantiles = weighted_quantiles(v, w)
            if quantiles:  # the summary keeps ranks, not extremes: pin them to the exact ones
                quantiles[0], quantiles[-1] = self.min, self.max
            base.update({
                "nan": self.nan, "inf": self.inf, "valid": self.n,
                "min": self.min, "max": self.max,
                "mean": self.mean if self.n else None,
                "std": math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else (0.0 if self.n else None),
                "distinct": hll_estimate(self.registers), "distinct_exact": False,
                "quantiles": quantiles,
            })
        elif self.kind == "categorical":
            import pyarrow.compute as pc

            self._merge_counts()
            top: list[tuple[str, int]] = []
            if self.counts is not None and self.counts.num_rows:
                best = self.counts.take(pc.select_k_unstable(self.counts, k=TOP_K, sort_keys=_BY_COUNT))
                top = list(zip(best.column("values").to_pylist(), best.column("counts").to_pylist()))
            non_null = self.rows - self.nulls
            distinct = (self.counts.num_rows if self.counts is not None else 0) if self.exact \
                else hll_estimate(self.registers)
            base.update({
                "distinct": distinct, "distinct_exact": self.exact,
                "top": [[k, v] for k, v in top],
                "other": non_null - sum(v for _, v in top),
                "top_exact": self.exact,
            })
        else:
            base.update({"distinct": hll_estimate(self.registers), "distinct_exact": False})
        return base


_SCRATCH = threading.local()


def _scratch(n: int):
    """This thread's buffers for counting ``n`` strings: first indices, counts (int64) and
    a hash table (int32, a power of two of at least ``2 * n`` slots)."""
    np = _np()
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None or len(bufs[0]) < n:
        size = 16
        while size < 2 * n:
            size <<= 1
        bufs = _SCRATCH.bufs = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(size, np.int32))
    return bufs


def _struct_counts(values, counts):
    import pyarrow as pa

    return pa.StructArray.from_arrays([values, counts], names=["values", "counts"])


class _Distinct:
    """A batch's distinct text values (first-seen order) and their counts, as the struct
    array of ``_value_counts`` (``len``, ``field``, ``take``, ``struct``), whose values stay
    in the batch until asked for: past the exact limit ``ColumnProfiler.apply`` keeps only
    a batch's heaviest ``TOP_K * 20``, so the others are never copied out. Pickled (to go
    from an engine's worker to the client) as the struct array."""

    __slots__ = ("arr", "first", "counts")

    def __init__(self, arr, first, counts) -> None:
        self.arr, self.first, self.counts = arr, first, counts

    def __len__(self) -> int:
        return len(self.first)

    def field(self, name: str):
        import pyarrow as pa

        if name == "counts":
            return pa.array(self.counts, pa.int64())
        if name == "values":
            return self.arr.take(pa.array(self.first))
        raise KeyError(name)

    def take(self, indices):
        """The struct array of the entries at ``indices`` (an Arrow integer array)."""
        import pyarrow as pa

        at = _np().asarray(indices.to_numpy(zero_copy_only=False), dtype=_np().int64)
        return _struct_counts(self.arr.take(pa.array(self.first[at])), pa.array(self.counts[at], pa.int64()))

    def struct(self):
        return _struct_counts(self.field("values"), self.field("counts"))

    def __reduce__(self):
        return _struct_counts, (self.field("values"), self.field("counts"))


def _value_counts(arr, v0):
    """Arrow ``value_counts`` of a categorical batch as text (values in first-seen order).
    A text array without nulls is counted by the compiled kernels where they are loaded,
    its value hashes ``v0`` placing the values (the same result)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
    if text and arr.null_count == 0 and len(arr) and v0 is not None and len(v0) == len(arr):
        from lineage.tabular import kernels

        k = kernels.get(len(arr))
        if (k is not None and hasattr(k, "distinct_strings_into") and pa.types.is_string(arr.type)
                and len(arr) <= SCRATCH_VALUES):
            # into this thread's buffers, kept between batches (a batch allocates no table)
            first, counts, table = _scratch(len(arr))
            d = k.distinct_strings_into(arr, v0, first, counts, table)
            if d > TOP_K * 20:  # apply may keep only the heaviest: take the values then
                return _Distinct(arr, first[:d].copy(), counts[:d].copy())
            values = arr.take(pa.array(first[:d]))
            return pa.StructArray.from_arrays([values, pa.array(counts[:d].copy(), pa.int64())],
                                              names=["values", "counts"])
        if k is not None and hasattr(k, "distinct_strings"):
            first, counts = k.distinct_strings(arr, v0)
            values = arr.take(pa.array(first))
            if not pa.types.is_string(values.type):
                values = values.cast(pa.string())
            return pa.StructArray.from_arrays([values, pa.array(counts, pa.int64())], names=["values", "counts"])
    return pc.value_counts(arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr)


def _always_finite(t) -> bool:
    """Whether ``_as_float`` of an array of type ``t`` can hold no NaN or infinity."""
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)


def _as_float(arr):
    import pyarrow as pa
    import pyarrow.compute as pc

    np = _np()
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        arr = pc.cast(arr, pa.timestamp("us", "UTC") if pa.types.is_timestamp(t) and t.tz
                      else pa.timestamp("us")).cast(pa.int64())
    elif pa.types.is_decimal(t):
        arr = arr.cast(pa.float64(), safe=False)
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(0, arr.type))
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)


# -- merging ------------------------------------------------------------------------

def merge_profiles(profiles: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Merge per-file profiles ({column: profile}) into one, e.g. for a folder of part files.

    Counts add up; mean and standard deviation are pooled exactly; quantiles are
    recomputed from the files' quantiles weighted by their counts; top-k counts add up
    (the "other" count absorbs values that fall out of the top k).

    >>> merge_profiles([load_profiles(repo, sid)[f] for f in files])   # doctest: +SKIP
    """
    np = _np()
    out: dict[str, dict[str, Any]] = {}
    columns: dict[str, list[dict[str, Any]]] = {}
    for prof in profiles:
        for name, p in prof.items():
            columns.setdefault(name, []).append(p)
    for name, parts in columns.items():
        first = parts[0]
        kinds = {p["kind"] for p in parts}
        kind = first["kind"] if len(kinds) == 1 else ("numeric" if kinds <= {"numeric", "temporal"} else "other")
        merged: dict[str, Any] = {"name": name, "type": first["type"] if len({p["type"] for p in parts}) == 1
                                  else "mixed", "kind": kind,
                                  "count": sum(p["count"] for p in parts),
                                  "nulls": sum(p["nulls"] for p in parts)}
        if kind in ("numeric", "temporal"):
            valid = [p for p in parts if p.get("valid")]
            n = sum(p["valid"] for p in valid)
            mean = sum(p["mean"] * p["valid"] for p in valid) / n if n else None
            m2 = sum((p["std"] or 0.0) ** 2 * (p["valid"] - 1) + p["valid"] * (p["mean"] - mean) ** 2
                     for p in valid) if n else 0.0
            vals, wts = [], []
            for p in valid:
                q = p["quantiles"]
                if q:
                    vals.append(np.asarray(q, dtype=np.float64))
                    wts.append(np.full(len(q), p["valid"] / len(q)))
            if vals:
                v = np.concatenate(vals)
                w = np.concatenate(wts)
                order = np.argsort(v, kind="stable")
                quantiles = weighted_quantiles(v[order], w[order])
            else:
                quantiles = []
            merged.update({
                "nan": sum(p.get("nan", 0) for p in parts), "inf": sum(p.get("inf", 0) for p in parts),
                "valid": n,
                "min": min((p["min"] for p in valid), default=None),
                "max": max((p["max"] for p in valid), default=None),
                "mean": mean, "std": math.sqrt(m2 / (n - 1)) if n > 1 else (0.0 if n else None),
                "distinct": max(p.get("distinct", 0) for p in parts), "distinct_exact": False,
                "quantiles": quantiles,
            })
        elif kind == "categorical":
            counts: dict[str, int] = {}
            for p in parts:
                for k, v in p.get("top", []):
                    counts[k] = counts.get(k, 0) + v
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]
            non_null = merged["count"] - merged["nulls"]
            exact = all(p.get("top_exact") and p.get("other", 0) == 0 for p in parts)
            merged.update({
                "distinct": len(counts) if exact else max(p.get("distinct", 0) for p in parts),
                "distinct_exact": exact and len(counts) <= TOP_K,
                "top": [[k, v] for k, v in items],
                "other": non_null - sum(v for _, v in items),
                "top_exact": exact,
            })
        else:
            merged.update({"distinct": max(p.get("distinct", 0) for p in parts), "distinct_exact": False})
        out[name] = merged
    return out
