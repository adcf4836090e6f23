/* The compiled kernels of the lineage-fp-1 encoding in plain C (loaded by
 * lineage/tabular/kernels.py through ctypes, which releases the GIL during each call).
 *
 * The same functions, and the same uint64 results, as the numba kernels of _jit.py and
 * the numpy reference of rowhash.py / profile.py: see schemas/FINGERPRINTS.md.
 * Built with plain IEEE double arithmetic (no fast-math, no contraction), so the float
 * steps (canonical zero, near-grid snapping, HyperLogLog ranks) are exact as in numpy.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef int64_t i64;
typedef uint8_t u8;

#define M1 0xBF58476D1CE4E5B9ULL
#define M2 0x94D049BB133111EBULL
#define S0 0x243F6A8885A308D3ULL
#define S1 0x13198A2E03707344ULL
#define CANONICAL_NAN 0x7FF8000000000000ULL
#define MAGNITUDE 0x7FFFFFFFFFFFFFFFULL
#define INF_BITS 0x7FF0000000000000ULL
#define ONE_BITS 0x3FF0000000000000ULL
#define NEAR_BITS 18
#define NEAR_DROP (52 - NEAR_BITS)
#define NEAR_SCALE 262144.0 /* 2 ** NEAR_BITS */
#define MAX_SNAPPED (((INF_BITS - 1) >> NEAR_DROP) << NEAR_DROP)
#define HLL_P 12

/* constants the loader compares with rowhash's and profile's */
const u64 lineage_constants[10] = {M1, M2, S0, S1, CANONICAL_NAN, MAGNITUDE, INF_BITS, ONE_BITS,
                                   NEAR_BITS, HLL_P};

static inline u64 mix(u64 x) {
    x ^= x >> 30;
    x *= M1;
    x ^= x >> 27;
    x *= M2;
    return x ^ (x >> 31);
}

static inline u64 bits_of(double x) { u64 u; memcpy(&u, &x, 8); return u; }
static inline double double_of(u64 u) { double x; memcpy(&x, &u, 8); return x; }

/* v_L = mix(p ^ k_L) (one tag for every value) */
void hash_single(const u64 *p, u64 k0, u64 k1, u64 *out0, u64 *out1, i64 n) {
    for (i64 i = 0; i < n; i++) {
        u64 x = p[i];
        out0[i] = mix(x ^ k0);
        out1[i] = mix(x ^ k1);
    }
}

/* v_L = mix(p_L ^ K_L[tag]) per value */
void hash_tagged(const u64 *p0, const u64 *p1, const u8 *tags, const u64 *keys0, const u64 *keys1,
                 u64 *out0, u64 *out1, i64 n) {
    for (i64 i = 0; i < n; i++) {
        u8 t = tags[i];
        out0[i] = mix(p0[i] ^ keys0[t]);
        out1[i] = mix(p1[i] ^ keys1[t]);
    }
}

/* canonical float payload: -0.0 as +0.0, every NaN as one value */
void float_bits(const double *f, u64 *out, i64 n) {
    for (i64 i = 0; i < n; i++) {
        double x = f[i];
        out[i] = (x != x) ? CANONICAL_NAN : bits_of(x + 0.0);
    }
}

/* string payloads: payload_L = mix(sum_k mix(w_k ^ P_L[k]) + mix(len ^ seed_L)) */
void bytes_payload(const u8 *data, const i64 *offsets, const i64 *lengths, u64 *out0, u64 *out1, i64 n) {
    for (i64 i = 0; i < n; i++) {
        const u8 *s = data + offsets[i];
        i64 len = lengths[i];
        u64 a0 = 0, a1 = 0, k = 0;
        for (i64 pos = 0; pos < len; pos += 8) {
            i64 take = len - pos < 8 ? len - pos : 8;
            u64 w = 0;
            if (take == 8) {
                memcpy(&w, s + pos, 8); /* little-endian hosts only (checked by the loader) */
            } else {
                for (i64 b = 0; b < take; b++) w |= (u64)s[pos + b] << (8 * b);
            }
            k++;
            a0 += mix(w ^ mix(S0 + k));
            a1 += mix(w ^ mix(S1 + k));
        }
        out0[i] = mix(a0 + mix((u64)len ^ S0));
        out1[i] = mix(a1 + mix((u64)len ^ S1));
    }
}

/* acc_L = mix(acc_L + mix(v_L ^ N_L)) in place */
void combine_step(u64 *acc0, u64 *acc1, const u64 *v0, const u64 *v1, u64 n0, u64 n1, i64 n) {
    for (i64 i = 0; i < n; i++) {
        acc0[i] = mix(acc0[i] + mix(v0[i] ^ n0));
        acc1[i] = mix(acc1[i] + mix(v1[i] ^ n1));
    }
}

/* fp_L = mix(acc_L ^ ncols) in place */
void finish(u64 *acc0, u64 *acc1, u64 ncols, i64 n) {
    for (i64 i = 0; i < n; i++) {
        acc0[i] = mix(acc0[i] ^ ncols);
        acc1[i] = mix(acc1[i] ^ ncols);
    }
}

/* fp_L = mix(acc_L ^ ncols), big-endian, lane 0 then lane 1, 16 bytes a row */
void finish16(const u64 *acc0, const u64 *acc1, u64 ncols, u8 *out, i64 n) {
    for (i64 i = 0; i < n; i++) {
        u64 h0 = __builtin_bswap64(mix(acc0[i] ^ ncols)), h1 = __builtin_bswap64(mix(acc1[i] ^ ncols));
        memcpy(out + 16 * i, &h0, 8); /* little-endian host: the swap makes it big-endian */
        memcpy(out + 16 * i + 8, &h1, 8);
    }
}

/* rowhash.snap_bits of one value: its canonical payload snapped to the near grid. Both
 * grids are computed and the right one picked (no branches); ``half`` and ``round_up`` say
 * which grid: rounded (2 ** (NEAR_DROP - 1), 0.5) or shifted by half a step (0, 2.0: a
 * fraction is never >= 2, so nothing rounds up). */
static inline u64 snap1(double x, u64 half, double round_up) {
    u64 bits = bits_of(x + 0.0);
    u64 mag = bits & MAGNITUDE;
    u64 sign = bits ^ mag;
    /* |x| < 1: |x| * 2**B is exact (a power-of-two scale), as is its fraction */
    double scaled = double_of(mag) * NEAR_SCALE;
    double whole = floor(scaled);
    whole += (scaled - whole >= round_up) ? 1.0 : 0.0;
    u64 small = bits_of(whole / NEAR_SCALE);
    u64 big = ((mag + half) >> NEAR_DROP) << NEAR_DROP;
    big = big > MAX_SNAPPED ? MAX_SNAPPED : big;
    u64 q = mag < ONE_BITS ? small : big;
    sign = q == 0 ? 0 : sign;
    u64 r = mag >= INF_BITS ? bits : (sign | q); /* infinities as they are */
    return (x != x) ? CANONICAL_NAN : r;
}

void snap(const double *restrict f, int shifted, u64 *restrict out, i64 n) {
    const u64 half = shifted ? 0 : (1ULL << (NEAR_DROP - 1));
    const double round_up = shifted ? 2.0 : 0.5;
    for (i64 i = 0; i < n; i++) out[i] = snap1(f[i], half, round_up);
}

/* One float column for every key at once: its exact value hashes (v0, v1: payload the
 * canonical bits, key k_num = K_L[T_NUM]; a null value's hash is z = mix(K_L[T_NULL])),
 * and its snapped values' hashes folded into both near keys' accumulators
 * (acc = mix(acc + mix(w ^ name key))): what value_hashes, near_value_hashes and
 * combine_step give, in one pass and without their intermediate arrays. ``valid``: one
 * byte per value, or NULL when none is null (null values are 0.0 in f). */
static inline void float_column_body(const double *restrict f, const u8 *restrict valid, int has_valid,
                                     u64 knum0, u64 knum1, u64 z0, u64 z1, u64 *restrict v0,
                                     u64 *restrict v1, u64 *restrict near0, u64 *restrict near1,
                                     u64 *restrict shift0, u64 *restrict shift1, u64 name0, u64 name1,
                                     i64 n) {
    const u64 half = 1ULL << (NEAR_DROP - 1);
    for (i64 i = 0; i < n; i++) {
        double x = f[i];
        int ok = has_valid ? valid[i] != 0 : 1;
        u64 p = (x != x) ? CANONICAL_NAN : bits_of(x + 0.0);
        v0[i] = ok ? mix(p ^ knum0) : z0;
        v1[i] = ok ? mix(p ^ knum1) : z1;
        u64 s = snap1(x, half, 0.5);
        u64 w0 = ok ? mix(s ^ knum0) : z0, w1 = ok ? mix(s ^ knum1) : z1;
        near0[i] = mix(near0[i] + mix(w0 ^ name0));
        near1[i] = mix(near1[i] + mix(w1 ^ name1));
        s = snap1(x, 0, 2.0);
        w0 = ok ? mix(s ^ knum0) : z0;
        w1 = ok ? mix(s ^ knum1) : z1;
        shift0[i] = mix(shift0[i] + mix(w0 ^ name0));
        shift1[i] = mix(shift1[i] + mix(w1 ^ name1));
    }
}

void float_column(const double *f, const u8 *valid, u64 knum0, u64 knum1, u64 z0, u64 z1,
                  u64 *v0, u64 *v1, u64 *near0, u64 *near1, u64 *shift0, u64 *shift1,
                  u64 name0, u64 name1, i64 n) {
    if (valid == NULL)
        float_column_body(f, valid, 0, knum0, knum1, z0, z1, v0, v1, near0, near1, shift0, shift1,
                          name0, name1, n);
    else
        float_column_body(f, valid, 1, knum0, knum1, z0, z1, v0, v1, near0, near1, shift0, shift1,
                          name0, name1, n);
}

/* combine_step into several accumulators at once: mix(v_L ^ N_L) computed once for all
 * (accs0[j], accs1[j]: the j-th key's lanes), a block of rows at a time */
#define BLOCK 2048
static void fold(u64 *restrict acc, const u64 *restrict t, i64 n) {
    for (i64 i = 0; i < n; i++) acc[i] = mix(acc[i] + t[i]);
}

static void keyed(u64 *restrict t, const u64 *restrict v, u64 key, i64 n) {
    for (i64 i = 0; i < n; i++) t[i] = mix(v[i] ^ key);
}

void combine_many(u64 **accs0, u64 **accs1, i64 m, const u64 *v0, const u64 *v1, u64 n0, u64 n1, i64 n) {
    u64 t0[BLOCK], t1[BLOCK];
    for (i64 base = 0; base < n; base += BLOCK) {
        i64 len = n - base < BLOCK ? n - base : BLOCK;
        keyed(t0, v0 + base, n0, len);
        keyed(t1, v1 + base, n1, len);
        for (i64 j = 0; j < m; j++) {
            fold(accs0[j] + base, t0, len);
            fold(accs1[j] + base, t1, len);
        }
    }
}

/* The HyperLogLog rank of a hash, as profile.hll_add computes it: 65 minus the frexp
 * exponent of the float64 of (x << HLL_P | 1 << (HLL_P - 1)). That value is at least
 * 2 ** (HLL_P - 1), so its float64 is normal and frexp's exponent is the stored exponent
 * minus 1022 (the conversion rounds as numpy's does: to nearest, ties to even). */
static inline u8 hll_rank(u64 x) {
    double v = (double)((x << HLL_P) | (1ULL << (HLL_P - 1)));
    int e = (int)((bits_of(v) >> 52) & 0x7FF) - 1022;
    return (u8)(65 - e);
}

/* HyperLogLog: register (top HLL_P bits) raised to the rank */
void hll_update(const u64 *h, u8 *registers, i64 n) {
    for (i64 i = 0; i < n; i++) {
        u64 x = h[i];
        i64 j = (i64)(x >> (64 - HLL_P));
        u8 r = hll_rank(x);
        if (r > registers[j]) registers[j] = r;
    }
}

/* HyperLogLog of the valid values only (valid: 1 byte per value) */
void hll_update_valid(const u64 *h, const u8 *valid, u8 *registers, i64 n) {
    for (i64 i = 0; i < n; i++) {
        if (!valid[i]) continue;
        u64 x = h[i];
        i64 j = (i64)(x >> (64 - HLL_P));
        u8 r = hll_rank(x);
        if (r > registers[j]) registers[j] = r;
    }
}

/* The distinct byte strings of an array in first-seen order, with their counts (what
 * Arrow's value_counts gives for an array without nulls). ``hashes`` only place values in
 * the table; equal hashes are told apart by their bytes. first[d] is the index of the
 * d-th distinct value, counts[d] its count; returns the number of distinct values, or -1
 * if the table could not be allocated. */
i64 distinct_strings(const u8 *data, const i64 *offsets, const i64 *lengths, const u64 *hashes,
                     i64 n, i64 *first, i64 *counts) {
    u64 size = 16;
    while (size < 2 * (u64)n) size <<= 1;
    i64 *table = malloc(size * sizeof(i64));
    if (!table) return -1;
    memset(table, 0xff, size * sizeof(i64)); /* -1: empty */
    u64 mask = size - 1;
    i64 d = 0;
    for (i64 i = 0; i < n; i++) {
        u64 h = hashes[i];
        u64 slot = (h ^ (h >> 29)) & mask;
        for (;;) {
            i64 e = table[slot];
            if (e < 0) {
                table[slot] = d;
                first[d] = i;
                counts[d] = 1;
                d++;
                break;
            }
            i64 j = first[e];
            if (hashes[j] == h && lengths[j] == lengths[i]
                && memcmp(data + offsets[j], data + offsets[i], (size_t)lengths[i]) == 0) {
                counts[e]++;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    free(table);
    return d;
}

/* hll_update (valid: 1 byte per value, or NULL for all) without a branch per value: a
 * batch's fresh registers rise often and unpredictably, so the maximum is taken by select
 * and always stored (the same registers). */
void hll_update_max(const u64 *h, const u8 *valid, u8 *registers, i64 n) {
    for (i64 i = 0; i < n; i++) {
        u64 x = h[i];
        i64 j = (i64)(x >> (64 - HLL_P));
        u8 r = hll_rank(x);
        if (valid) r = valid[i] ? r : 0;
        u8 c = registers[j];
        registers[j] = r > c ? r : c;
    }
}

/* distinct_strings of a string array with 32-bit offsets (``ends``: its n + 1 offsets, as
 * Arrow stores them), into a hash table the caller keeps between calls (``table``: ``size``
 * slots, a power of two of at least 2 n, cleared here), so a batch allocates nothing. The
 * same first-seen order and counts as distinct_strings; -1 for a table of the wrong size,
 * -2 for offsets outside the ``nbytes`` of data. */
i64 distinct_strings32(const u8 *data, i64 nbytes, const int32_t *ends, const u64 *hashes, i64 n,
                       i64 *first, i64 *counts, int32_t *table, i64 size) {
    if ((u64)size < 2 * (u64)n || (size & (size - 1))) return -1;
    memset(table, 0xff, (size_t)size * sizeof(int32_t)); /* -1: empty */
    u64 mask = (u64)size - 1;
    i64 d = 0;
    for (i64 i = 0; i < n; i++) {
        u64 h = hashes[i];
        u64 slot = (h ^ (h >> 29)) & mask;
        int32_t s = ends[i], len = ends[i + 1] - s;
        if (s < 0 || len < 0 || ends[i + 1] > nbytes) return -2; /* a value outside its data */
        for (;;) {
            int32_t e = table[slot];
            if (e < 0) {
                table[slot] = (int32_t)d;
                first[d] = i;
                counts[d] = 1;
                d++;
                break;
            }
            i64 j = first[e];
            if (hashes[j] == h && ends[j + 1] - ends[j] == len
                && memcmp(data + ends[j], data + s, (size_t)len) == 0) {
                counts[e]++;
                break;
            }
            slot = (slot + 1) & mask;
        }
    }
    return d;
}

/* Membership of 16-byte keys (two u64 lanes each), exact: a hash table of the ``build``
 * side's distinct keys (open addressing; a slot holds the index + 1 of the first build key
 * that has it, and 32 bits of the key's hash, compared before the key), probed with every
 * key of the ``probe`` side. A bit table of the build keys' hashes (``filter``: 2^fbits
 * bits, about 16 per build key, small enough to stay in cache) rules out most keys that
 * are not there before the hash table is touched.
 * keys16_build clears and fills ``table`` (``size`` slots of two u32, a power of two of at
 * least 2 nb), ``filter`` and ``slot_of`` (each build key's slot, or NULL);
 * keys16_probe marks ``hit`` (one byte per slot, or NULL) and ``out`` (one byte per probe
 * key, or NULL) for the probe keys found, over probe keys [lo, hi), so several threads
 * can share one table (they only write ones); keys16_marked gives each build key its
 * slot's mark. -1 for a table of the wrong size. */
static inline u64 key16_hash(u64 h, u64 l) { return mix(h ^ (l * M2 + S0)); }

i64 keys16_build(const u64 *build, i64 nb, uint32_t *table, i64 size, uint32_t *slot_of, u64 *filter,
                 int fbits) {
    if ((u64)size < 2 * (u64)nb || (size & (size - 1)) || nb >= 0xFFFFFFFFLL || fbits < 6 || fbits > 40)
        return -1;
    memset(table, 0, (size_t)size * 2 * sizeof(uint32_t));
    memset(filter, 0, ((size_t)1 << fbits) / 8);
    u64 mask = (u64)size - 1;
    i64 distinct = 0;
    for (i64 i = 0; i < nb; i++) {
        u64 h = build[2 * i], l = build[2 * i + 1];
        u64 x = key16_hash(h, l);
        u64 f = x >> (64 - fbits);
        filter[f >> 6] |= 1ULL << (f & 63);
        u64 slot = x & mask;
        uint32_t tag = (uint32_t)(x >> 32);
        for (;;) {
            uint32_t e = table[2 * slot];
            if (e == 0) {
                table[2 * slot] = (uint32_t)(i + 1);
                table[2 * slot + 1] = tag;
                distinct++;
                break;
            }
            if (table[2 * slot + 1] == tag && build[2 * (e - 1)] == h && build[2 * (e - 1) + 1] == l) break;
            slot = (slot + 1) & mask;
        }
        if (slot_of) slot_of[i] = (uint32_t)slot;
    }
    return distinct;
}

i64 keys16_probe(const u64 *build, const uint32_t *table, i64 size, const u64 *filter, int fbits,
                 const u64 *probe, i64 lo, i64 hi, u8 *hit, u8 *out) {
    if (size & (size - 1)) return -1;
    u64 mask = (u64)size - 1;
    i64 found = 0;
    for (i64 j = lo; j < hi; j++) {
        u64 h = probe[2 * j], l = probe[2 * j + 1];
        u64 x = key16_hash(h, l);
        u64 f = x >> (64 - fbits);
        u8 yes = 0;
        if (filter[f >> 6] & (1ULL << (f & 63))) {
            u64 slot = x & mask;
            uint32_t tag = (uint32_t)(x >> 32);
            for (;;) {
                uint32_t e = table[2 * slot];
                if (e == 0) break;
                if (table[2 * slot + 1] == tag && build[2 * (e - 1)] == h && build[2 * (e - 1) + 1] == l) {
                    yes = 1;
                    if (hit) hit[slot] = 1;
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        if (out) out[j] = yes;
        found += yes;
    }
    return found;
}

void keys16_marked(const uint32_t *slot_of, const u8 *hit, u8 *out, i64 nb) {
    for (i64 i = 0; i < nb; i++) out[i] = hit[slot_of[i]];
}

/* Value hashes of a string array with 32-bit offsets (``ends``: its n + 1 offsets, as Arrow
 * stores them): v_L = mix(payload_L ^ key_L) with bytes_payload's payload. A first pass
 * sums each value's words (the words' keys mix(S_L + k) and the length keys mix(len ^ S_L)
 * of short values computed once; a last partial word read whole where the data goes on,
 * and masked) and a second one, which vectorises, applies the two outer mixes. Returns 1
 * if a byte is not ASCII (then the text may need NFC first: the caller hashes it again),
 * else 0; -2 for offsets outside the ``nbytes`` of data. */
#define WORD_KEYS 32
#define LEN_KEYS 64
static inline u64 word_key(const u64 *table, u64 seed, i64 j) {
    return j < WORD_KEYS ? table[j] : mix(seed + (u64)(j + 1));
}

i64 string_hashes32(const u8 *data, i64 nbytes, const int32_t *ends, i64 n, u64 key0, u64 key1,
                    u64 *restrict out0, u64 *restrict out1) {
    u64 wk0[WORD_KEYS], wk1[WORD_KEYS], lk0[LEN_KEYS], lk1[LEN_KEYS];
    for (i64 j = 0; j < WORD_KEYS; j++) {
        wk0[j] = mix(S0 + (u64)(j + 1));
        wk1[j] = mix(S1 + (u64)(j + 1));
    }
    for (i64 j = 0; j < LEN_KEYS; j++) {
        lk0[j] = mix((u64)j ^ S0);
        lk1[j] = mix((u64)j ^ S1);
    }
    u64 high = 0;
    for (i64 i = 0; i < n; i++) {
        int32_t s = ends[i], e = ends[i + 1];
        if (s < 0 || e < s || e > nbytes) return -2;
        const u8 *p = data + s;
        i64 len = e - s, pos = 0, j = 0;
        u64 a0 = 0, a1 = 0, w;
        for (; pos + 8 <= len; pos += 8, j++) {
            memcpy(&w, p + pos, 8); /* little-endian hosts only (checked by the loader) */
            high |= w;
            a0 += mix(w ^ word_key(wk0, S0, j));
            a1 += mix(w ^ word_key(wk1, S1, j));
        }
        if (pos < len) {
            i64 take = len - pos;
            if (s + pos + 8 <= nbytes) {
                memcpy(&w, p + pos, 8);
                w &= ~0ULL >> (64 - 8 * take);
            } else {
                w = 0;
                for (i64 b = 0; b < take; b++) w |= (u64)p[pos + b] << (8 * b);
            }
            high |= w;
            a0 += mix(w ^ word_key(wk0, S0, j));
            a1 += mix(w ^ word_key(wk1, S1, j));
        }
        out0[i] = a0 + (len < LEN_KEYS ? lk0[len] : mix((u64)len ^ S0));
        out1[i] = a1 + (len < LEN_KEYS ? lk1[len] : mix((u64)len ^ S1));
    }
    for (i64 i = 0; i < n; i++) {
        out0[i] = mix(mix(out0[i]) ^ key0);
        out1[i] = mix(mix(out1[i]) ^ key1);
    }
    return (high & 0x8080808080808080ULL) ? 1 : 0;
}

/* Value hashes of a signed integer column (as int64), as rowhash.canonical gives them: a
 * value a float64 holds exactly is hashed as that number (payload its bits, key K_L[T_NUM]),
 * any other as an integer (payload its two's complement, key K_L[T_INT]). ``valid``: one
 * byte per value, or NULL when none is null (a null's hash is z_L). */
void int_hashes(const i64 *restrict v, const u8 *restrict valid, u64 knum0, u64 knum1, u64 kint0,
                u64 kint1, u64 z0, u64 z1, u64 *restrict out0, u64 *restrict out1, i64 n) {
    for (i64 i = 0; i < n; i++) {
        i64 x = v[i];
        double f = (double)x;
        /* f < 2 ** 63: the conversion back is defined (numpy's check f != 2 ** 63, as f >= -2 ** 63) */
        int exact = f < 9223372036854775808.0 && (i64)f == x;
        u64 p = exact ? bits_of(f + 0.0) : (u64)x;
        u64 h0 = mix(p ^ (exact ? knum0 : kint0)), h1 = mix(p ^ (exact ? knum1 : kint1));
        int ok = valid ? valid[i] != 0 : 1;
        out0[i] = ok ? h0 : z0;
        out1[i] = ok ? h1 : z1;
    }
}

/* profile.QuantileSummary._merge of two sorted weighted samples (a, b): their stable merge
 * (a's points first among equal values), then, past k points, the k points of equal weight
 * total / k at ranks (j + 0.5) * total / k of the running weight, as _compress picks them
 * (running sum in merge order, first point whose running weight reaches the rank). ``mv``,
 * ``mw``: room for na + nb points; the result (returns its length m) is written to ``ov``,
 * ``ow`` (room for min(na + nb, k) points). */
i64 quantile_merge(const double *av, const double *aw, i64 na, const double *bv, const double *bw, i64 nb,
                   i64 k, double *restrict mv, double *restrict mw, double *restrict ov, double *restrict ow) {
    i64 i = 0, j = 0, m = 0, n = na + nb;
    while (i < na && j < nb) {
        if (bv[j] < av[i]) { mv[m] = bv[j]; mw[m++] = bw[j++]; }
        else { mv[m] = av[i]; mw[m++] = aw[i++]; }
    }
    while (i < na) { mv[m] = av[i]; mw[m++] = aw[i++]; }
    while (j < nb) { mv[m] = bv[j]; mw[m++] = bw[j++]; }
    if (n <= k) {
        memcpy(ov, mv, (size_t)n * sizeof(double));
        memcpy(ow, mw, (size_t)n * sizeof(double));
        return n;
    }
    for (i64 t = 1; t < n; t++) mw[t] = mw[t - 1] + mw[t]; /* numpy's cumsum, in place */
    double total = mw[n - 1], step = total / (double)k;
    i64 at = 0;
    for (i64 t = 0; t < k; t++) {
        double target = ((double)t + 0.5) * step;
        while (at < n && mw[at] < target) at++;
        ov[t] = mv[at < n ? at : n - 1];
        ow[t] = step;
    }
    return k;
}

/* finish16, and the sums of the rows key over the keys written (rowskey.rows_key: per lane,
 * mix(lane ^ salt_L) summed modulo 2 ** 64, a lane being 8 bytes of a key as stored, read
 * little-endian) into sums[0], sums[1] */
void finish16_sum(const u64 *acc0, const u64 *acc1, u64 ncols, u8 *out, i64 n, u64 salt0, u64 salt1,
                  u64 *sums) {
    u64 s0 = 0, s1 = 0;
    for (i64 i = 0; i < n; i++) {
        u64 h0 = __builtin_bswap64(mix(acc0[i] ^ ncols)), h1 = __builtin_bswap64(mix(acc1[i] ^ ncols));
        memcpy(out + 16 * i, &h0, 8);
        memcpy(out + 16 * i + 8, &h1, 8);
        s0 += mix(h0 ^ salt0);
        s1 += mix(h1 ^ salt1);
    }
    sums[0] = s0;
    sums[1] = s1;
}
