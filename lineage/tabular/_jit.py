"""The numba build of the compiled kernels (imported only through
``lineage.tabular.kernels.get``, where the C build of ``_kernels.c`` cannot be compiled).

Module-level functions, so numba's on-disk cache (``cache=True``) finds them again in
the next process: only the first table a machine hashes pays the compile.
"""

from __future__ import annotations

import math

import numba
import numpy as np

# The constants of ``rowhash`` and ``profile``, written out so this module imports
# neither (no import cycle); tests/tabular/test_kernels.py checks they are the same.
M1, M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
SEEDS = (0x243F6A8885A308D3, 0x13198A2E03707344)
CANONICAL_NAN = 0x7FF8000000000000
_MAGNITUDE, _INF_BITS, _ONE_BITS = 0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000, 0x3FF0000000000000
NEAR_BITS = 18
_NEAR_DROP = 52 - NEAR_BITS
_NEAR_SCALE = float(2 ** NEAR_BITS)
_MAX_SNAPPED = (_INF_BITS - 1) >> _NEAR_DROP << _NEAR_DROP
HLL_P = 12

u64 = np.uint64
m1, m2 = u64(M1), u64(M2)
s0, s1 = u64(SEEDS[0]), u64(SEEDS[1])
nan_bits = u64(CANONICAL_NAN)
sh30, sh27, sh31 = u64(30), u64(27), u64(31)
magnitude, inf_bits, one_bits = u64(_MAGNITUDE), u64(_INF_BITS), u64(_ONE_BITS)
max_snapped, near_drop, near_half = u64(_MAX_SNAPPED), u64(_NEAR_DROP), u64(1 << (_NEAR_DROP - 1))
near_scale = _NEAR_SCALE
hll_shift, hll_p, hll_bit = u64(64 - HLL_P), u64(HLL_P), u64(1 << (HLL_P - 1))
jit = numba.njit(nogil=True, cache=True, boundscheck=False)
BACKEND = "numba"


@jit
def mix(x):
    x = x ^ (x >> sh30)
    x = x * m1
    x = x ^ (x >> sh27)
    x = x * m2
    return x ^ (x >> sh31)


@jit
def hash_single(p, k0, k1, out0, out1):
    """v_L = mix(p ^ k_L) (one tag for every value)."""
    for i in range(p.shape[0]):
        x = p[i]
        out0[i] = mix(x ^ k0)
        out1[i] = mix(x ^ k1)


@jit
def hash_tagged(p0, p1, tags, keys0, keys1, out0, out1):
    """v_L = mix(p_L ^ K_L[tag]) per value."""
    for i in range(p0.shape[0]):
        t = tags[i]
        out0[i] = mix(p0[i] ^ keys0[t])
        out1[i] = mix(p1[i] ^ keys1[t])


@jit
def float_bits(f, outf, outu):
    """Canonical float payload: -0.0 as +0.0, every NaN as one value (``outf`` and
    ``outu`` are float64 and uint64 views of the same memory)."""
    for i in range(f.shape[0]):
        x = f[i]
        if x != x:
            outu[i] = nan_bits
        else:
            outf[i] = x + 0.0


@jit
def bytes_payload(data, offsets, lengths, out0, out1):
    """String payloads: payload_L = mix(sum_k mix(w_k ^ P_L[k]) + mix(len ^ seed_L))."""
    for i in range(lengths.shape[0]):
        start = offsets[i]
        n = lengths[i]
        a0 = u64(0)
        a1 = u64(0)
        k = 0
        pos = 0
        while pos < n:
            take = n - pos
            if take > 8:
                take = 8
            w = u64(0)
            for b in range(take):
                w |= u64(data[start + pos + b]) << u64(8 * b)
            kk = u64(k + 1)
            a0 += mix(w ^ mix(s0 + kk))
            a1 += mix(w ^ mix(s1 + kk))
            k += 1
            pos += 8
        ln = u64(n)
        out0[i] = mix(a0 + mix(ln ^ s0))
        out1[i] = mix(a1 + mix(ln ^ s1))


@jit
def combine_step(acc0, acc1, v0, v1, n0, n1):
    """acc_L = mix(acc_L + mix(v_L ^ N_L)) in place."""
    for i in range(acc0.shape[0]):
        acc0[i] = mix(acc0[i] + mix(v0[i] ^ n0))
        acc1[i] = mix(acc1[i] + mix(v1[i] ^ n1))


@jit
def finish(acc0, acc1, ncols):
    """fp_L = mix(acc_L ^ ncols) in place."""
    for i in range(acc0.shape[0]):
        acc0[i] = mix(acc0[i] ^ ncols)
        acc1[i] = mix(acc1[i] ^ ncols)


@jit
def finish16(acc0, acc1, ncols, out):
    """fp_L = mix(acc_L ^ ncols), written big-endian, lane 0 then lane 1, 16 bytes a row."""
    for i in range(acc0.shape[0]):
        h0 = mix(acc0[i] ^ ncols)
        h1 = mix(acc1[i] ^ ncols)
        for b in range(8):
            out[i, 7 - b] = np.uint8((h0 >> u64(8 * b)) & u64(0xFF))
            out[i, 15 - b] = np.uint8((h1 >> u64(8 * b)) & u64(0xFF))


@jit
def snap(f, shifted, outf, outu):
    """``rowhash.snap_bits``: canonical float payloads snapped to the near grid (``outf``
    and ``outu`` are float64 and uint64 views of the same memory)."""
    for i in range(f.shape[0]):
        x = f[i]
        if x != x:
            outu[i] = nan_bits
            continue
        outf[i] = x + 0.0
        bits = outu[i]
        mag = bits & magnitude
        if mag >= inf_bits:
            continue  # infinities as they are
        sign = bits ^ mag
        if mag < one_bits:
            scaled = np.abs(outf[i]) * near_scale  # |x| * 2**B: exact (a power-of-two scale)
            whole = np.floor(scaled)
            if not shifted and scaled - whole >= 0.5:
                whole += 1.0
            outf[i] = whole / near_scale
            q = outu[i]
        else:
            q = mag if shifted else mag + near_half
            q = (q >> near_drop) << near_drop
            if q > max_snapped:
                q = max_snapped
        if q == 0:
            sign = u64(0)
        outu[i] = sign | q


@jit
def hll_update(hashes, registers):
    """HyperLogLog: each hash's register (its top ``HLL_P`` bits) raised to its rank, as
    ``profile.hll_add`` computes them (the rank through float64 ``frexp``, as there)."""
    for i in range(hashes.shape[0]):
        h = hashes[i]
        j = np.int64(h >> hll_shift)
        r = np.uint8(65 - math.frexp(np.float64((h << hll_p) | hll_bit))[1])
        if r > registers[j]:
            registers[j] = r
