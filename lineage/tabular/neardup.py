"""Near-duplicate pairs between two sets of MinHash signatures, verified exactly.

Candidates come from locality-sensitive hashing (datasketch ``MinHashLSH``) queried at
a threshold below the target, so pairs near the threshold are not missed; each
candidate is then verified by the exact Jaccard similarity of its character shingle
sets (recomputed from the stored normalised text), and only pairs at or above the
target are returned.

    >>> a = load_minhash(repo, "train@latest"); b = load_minhash(repo, "test@latest")  # doctest: +SKIP
    >>> find_near_duplicates(a, b, 0.8)                                                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lineage.errors import UsageError
from lineage.tabular.compute import MINHASH_SCHEME, MINHASH_SEED, NUM_PERM, shingles

#: LSH is queried this much below the target threshold (then verified exactly).
LSH_MARGIN = 0.15


@dataclass(frozen=True)
class NearDuplicate:
    file_a: str
    row_a: int
    file_b: str
    row_b: int
    jaccard: float
    estimate: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NearDuplicate:
        return cls(**d)


def jaccard(a: set[str], b: set[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def find_near_duplicates(sigs_a: Any, sigs_b: Any, threshold: float = 0.8, *,
                         limit: int | None = None) -> list[NearDuplicate]:
    """Pairs (row of a, row of b) whose exact shingle Jaccard similarity is >= ``threshold``.

    ``sigs_a`` and ``sigs_b`` are tables as returned by ``load_minhash`` (columns
    ``file``, ``row``, ``sig`` and ``text``). Sorted by decreasing similarity.
    """
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"threshold must be in (0, 1], not {threshold}")
    if sigs_a is None or sigs_b is None or sigs_a.num_rows == 0 or sigs_b.num_rows == 0:
        return []
    lsh_threshold = max(0.05, threshold - LSH_MARGIN)
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=NUM_PERM)
    sa = np.asarray(sigs_a.column("sig").combine_chunks().flatten().to_numpy(zero_copy_only=False),
                    dtype=np.uint64).reshape(-1, NUM_PERM)
    sb = np.asarray(sigs_b.column("sig").combine_chunks().flatten().to_numpy(zero_copy_only=False),
                    dtype=np.uint64).reshape(-1, NUM_PERM)
    with lsh.insertion_session() as session:
        for i in range(len(sa)):
            session.insert(i, MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, hashvalues=sa[i], scheme=MINHASH_SCHEME),
                           check_duplication=False)
    texts_a = sigs_a.column("text").to_pylist()
    texts_b = sigs_b.column("text").to_pylist()
    files_a, rows_a = sigs_a.column("file").to_pylist(), sigs_a.column("row").to_pylist()
    files_b, rows_b = sigs_b.column("file").to_pylist(), sigs_b.column("row").to_pylist()
    cache_a: dict[int, set[str]] = {}
    out: list[NearDuplicate] = []
    for j in range(len(sb)):
        mb = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, hashvalues=sb[j], scheme=MINHASH_SCHEME)
        candidates = lsh.query(mb)
        if not candidates:
            continue
        shb = shingles(texts_b[j])
        for i in candidates:
            sh_a = cache_a.get(i)
            if sh_a is None:
                sh_a = cache_a[i] = shingles(texts_a[i])
            exact = jaccard(sh_a, shb)
            if exact >= threshold:
                est = float(np.mean(sa[i] == sb[j]))
                out.append(NearDuplicate(files_a[i], rows_a[i], files_b[j], rows_b[j], exact, est))
    out.sort(key=lambda d: (-d.jaccard, d.file_a, d.row_a, d.file_b, d.row_b))
    return out[:limit] if limit is not None else out
