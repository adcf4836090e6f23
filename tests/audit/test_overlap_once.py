"""Each overlap is computed once per audit: exact-overlap, no-test-set and the other rules
that compare the same rows share one result (one membership test of the training keys)."""

from __future__ import annotations

import lineage.audit.context as context_mod
from audit.conftest import rows


def _counting(monkeypatch):
    calls = {"sort": 0}
    real = context_mod.members

    def counted(keys_a, keys_b):
        calls["sort"] += 1
        return real(keys_a, keys_b)

    monkeypatch.setattr(context_mod, "members", counted)
    return calls


def _test_set_inside_train(lab):
    lab.table("data/train.csv", rows(60, seed=7), name="train")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    return lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/train.csv")],
                   metrics=[("accuracy", 1.0, "test")])


def test_exact_overlap_and_no_test_set_share_one_overlap(lab, monkeypatch):
    ev = _test_set_inside_train(lab)
    calls = _counting(monkeypatch)
    report = lab.audit(ev, ["exact-overlap", "no-test-set"])
    # one cause, one finding: both rules judged the same 60 rows
    assert [f.evidence["overlap"] for f in report.findings] == [60]
    assert calls["sort"] == 1  # both rules asked; the training keys were compared, and the
    # overlap counted, once
    calls["sort"] = 0
    lab.audit(ev, ["exact-overlap"])
    assert calls["sort"] == 1


def test_each_audit_computes_its_own(lab, monkeypatch):
    ev = _test_set_inside_train(lab)
    calls = _counting(monkeypatch)
    lab.audit(ev, ["exact-overlap"])
    lab.audit(ev, ["exact-overlap"])
    assert calls["sort"] == 2  # memoised per audit, never across audits (the data may change)
