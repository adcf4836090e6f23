"""The precision and recall of docs/audit.md are counted right by benchmarks/audit_pipelines.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "audit_pipelines.py"


def _score():
    spec = importlib.util.spec_from_file_location("audit_pipelines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.score


def test_score_counts_true_and_false_positives_and_negatives_per_rule():
    score = _score()
    result = score([
        ({"fit-on-heldout"}, {"fit-on-heldout"}),                  # TP
        ({"fit-on-heldout", "exact-overlap"}, {"fit-on-heldout"}),  # TP, FN exact-overlap
        ({"tune-read-test"}, {"tune-read-test", "test-reuse"}),     # TP, FP test-reuse
        (set(), set()),                                              # clean, stayed clean
        (set(), {"test-reuse"}),                                     # clean that fired: FP
        (frozenset(), frozenset()),                                  # clean, stayed clean
    ])
    rules = result["rules"]
    # a rule never expected and never fired is absent
    assert set(rules) == {"fit-on-heldout", "exact-overlap", "tune-read-test", "test-reuse"}
    assert rules["fit-on-heldout"] == {"tp": 2, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert rules["exact-overlap"] == {"tp": 0, "fp": 0, "fn": 1, "precision": None, "recall": 0.0}
    assert rules["tune-read-test"] == {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    # the clean pipeline that fired counts as a false positive, as does the extra rule
    assert rules["test-reuse"] == {"tp": 0, "fp": 2, "fn": 0, "precision": 0.0, "recall": None}
    assert result["total"] == {"tp": 3, "fp": 2, "fn": 1, "precision": 0.6, "recall": 0.75}
    assert result["clean"] == {"pipelines": 3, "stayed_clean": 2}


def test_score_of_nothing_is_empty():
    result = _score()([])
    assert result["rules"] == {}
    assert result["total"]["precision"] is None and result["total"]["recall"] is None
    assert result["clean"] == {"pipelines": 0, "stayed_clean": 0}
