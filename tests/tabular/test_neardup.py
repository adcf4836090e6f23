"""Near-duplicate text across splits: LSH candidates verified by exact Jaccard."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import lineage
from lineage.errors import UsageError
from lineage.tabular import load_minhash
from lineage.tabular.compute import shingles
from lineage.tabular.neardup import find_near_duplicates, jaccard


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
                                "iota", "kappa", "lambda", "mu"]) + str(rng.randint(0, 999))
                    for _ in range(n))


def test_planted_near_duplicates_are_found_and_verified(workdir: Path, repo):
    rng = random.Random(1)
    train = [words(rng, 40) for _ in range(300)]
    test = [words(rng, 40) for _ in range(50)]
    test[7] = train[12].upper()                        # same text after normalisation
    test[20] = train[99] + " one more word"            # very close
    test[33] = " ".join(train[150].split()[:20])       # half of it: Jaccard about 0.5
    (workdir / "train.jsonl").write_text("".join(json.dumps({"t": t}) + "\n" for t in train))
    (workdir / "test.jsonl").write_text("".join(json.dumps({"t": t}) + "\n" for t in test))
    a = lineage.snapshot(workdir / "train.jsonl", repo=repo, name="train", text_column="t")
    b = lineage.snapshot(workdir / "test.jsonl", repo=repo, name="test", text_column="t")
    pairs = find_near_duplicates(load_minhash(repo, a.id), load_minhash(repo, b.id), 0.8)
    assert [(p.row_a, p.row_b) for p in pairs] == [(12, 7), (99, 20)]
    assert pairs[0].jaccard == 1.0
    exact = jaccard(shingles(train[99].lower()), shingles((train[99] + " one more word").lower()))
    assert pairs[1].jaccard == pytest.approx(exact) and 0.8 <= exact < 1
    low = find_near_duplicates(load_minhash(repo, a.id), load_minhash(repo, b.id), 0.4)
    assert (150, 33) in {(p.row_a, p.row_b) for p in low}
    for p in low:
        assert p.jaccard >= 0.4  # every returned pair is verified exactly


def test_bad_threshold_and_empty_inputs():
    with pytest.raises(UsageError):
        find_near_duplicates(None, None, 1.5)
    assert find_near_duplicates(None, None, 0.8) == []


def test_text_files_across_split_folders(workdir: Path, repo):
    from tests.conftest import write_tree

    rng = random.Random(3)
    docs = [words(rng, 60) for _ in range(6)]
    write_tree(workdir, {f"corpus/train/{i}.txt": d for i, d in enumerate(docs[:4])})
    write_tree(workdir, {"corpus/test/a.txt": docs[2] + "\n\n(copied)", "corpus/test/b.txt": docs[5],
                         "corpus/test/c.bin": b"\x00" * 10})
    a = lineage.snapshot(workdir / "corpus/train", repo=repo, name="train")
    b = lineage.snapshot(workdir / "corpus/test", repo=repo, name="test")
    sa, sb = load_minhash(repo, a.id), load_minhash(repo, b.id)
    assert sa.num_rows == 4 and sorted(sb.column("file").to_pylist()) == ["a.txt", "b.txt"]
    pairs = find_near_duplicates(sa, sb, 0.8)
    assert [(p.file_a, p.file_b) for p in pairs] == [("2.txt", "a.txt")]
