"""Dirty code counts untracked code files; failed and aborted evaluations follow one policy."""

from __future__ import annotations

import pytest

import lineage
from audit.conftest import clean_pipeline
from conftest import git
from lineage import snapshots
from lineage.audit.queries import counts_as_scoring
from lineage.core import git as gitinfo


def _git_of(lab, run_id: str) -> dict:
    """The git state as the run.start event recorded it."""
    [body] = [ev.body for ev in lab.repo.graph.events() if ev.type == "run.start"
              and ev.body["run_id"] == run_id]
    return body["git"]


def _committed(lab) -> None:
    """Commit everything that is code (including .lineage/config), so the tree is clean."""
    git(lab.root, "add", "-A", ".")
    git(lab.root, "commit", "-q", "--allow-empty", "-m", "work")


# -- dirty code ------------------------------------------------------------------------
def test_untracked_script_makes_the_run_dirty_and_fires_dirty_code(lab):
    _committed(lab)
    clean = lab.run("train")
    assert _git_of(lab, clean)["dirty"] is False
    assert "dirty-code" not in lab.slugs(clean, ["dirty-code"])

    lab.write("train.py", "print('new model')\n")
    dirty = lab.run("train")
    g = _git_of(lab, dirty)
    assert g["dirty"] is True and g["untracked"] == 1 and g["diff_digest"]
    [f] = lab.audit(dirty, ["dirty-code"]).findings
    assert f.evidence["run"] == dirty and f.evidence["diff_digest"] == g["diff_digest"]
    assert "untracked" in f.message


def test_ignored_files_data_tracked_by_lineage_and_lineage_state_do_not_count(lab):
    _committed(lab)
    lab.write("models/weights.bin", "ignored by .gitignore\n")            # ignored
    lab.table("tables/full.csv", [{"a": 1, "b": 2}], name="full")       # a dataset lineage keeps
    (lab.root / ".lineage" / "scratch").write_text("lineage's own state\n")
    run_id = lab.run("train", [("train", "tables/full.csv")])
    g = _git_of(lab, run_id)
    assert g["dirty"] is False and "untracked" not in g
    assert lab.slugs(run_id, ["dirty-code"]) == set()


def test_files_inside_a_snapshotted_directory_are_data(lab):
    _committed(lab)
    (lab.root / "images" / "cats").mkdir(parents=True)
    (lab.root / "images" / "cats" / "labels.yaml").write_text("cat: 1\n")  # code-like, but data
    snapshots.create(lab.repo, lab.root / "images", name="images")
    assert gitinfo.state(lab.root, untracked=True, data_paths=["images"]).dirty is False
    assert gitinfo.state(lab.root, untracked=True).dirty is True
    # without the untracked accounting the old meaning holds (snapshot records)
    assert gitinfo.state(lab.root).dirty is False


def test_untracked_data_files_are_not_code_even_before_a_snapshot(lab):
    _committed(lab)
    lab.write("data/new.csv", "x,y\n1,2\n")
    lab.write("models/model.pkl", "weights")
    assert gitinfo.state(lab.root, untracked=True).dirty is False
    lab.write("train_v2.py", "print('hi')\n")
    assert gitinfo.state(lab.root, untracked=True).dirty is True


def test_different_untracked_contents_give_different_digests(lab):
    _committed(lab)
    lab.write("prep.py", "x = 1\n")
    first = gitinfo.state(lab.root, with_diff=True, untracked=True)
    lab.write("prep.py", "x = 2\n")
    second = gitinfo.state(lab.root, with_diff=True, untracked=True)
    assert first.dirty and second.dirty
    assert first.diff_digest and second.diff_digest and first.diff_digest != second.diff_digest
    assert not first.diff_partial
    # the same state twice gives the same digest
    assert gitinfo.state(lab.root, with_diff=True, untracked=True).diff_digest == second.diff_digest


def test_tracked_only_changes_keep_the_old_digest(lab):
    from lineage.core.hashing import hash_bytes

    _committed(lab)
    (lab.root / "README").write_text("changed\n")
    s = gitinfo.state(lab.root, with_diff=True, untracked=True)
    diff = gitinfo.run(lab.root, "diff", "HEAD", "--binary").stdout
    assert s.dirty and s.untracked == 0 and s.diff_digest == hash_bytes(diff)


def test_untracked_files_over_the_hash_limit_make_the_digest_partial(lab, monkeypatch):
    _committed(lab)
    monkeypatch.setattr(gitinfo, "UNTRACKED_HASH_LIMIT", 10)
    lab.write("big.py", "x" * 100 + "\n")
    s = gitinfo.state(lab.root, with_diff=True, untracked=True)
    assert s.dirty and s.diff_partial and s.to_dict()["diff_partial"] is True


# -- failed and aborted runs ----------------------------------------------------------
def _failed_evaluate(lab, metrics=(), *, interrupt: bool = False) -> str:
    exc = KeyboardInterrupt if interrupt else RuntimeError
    holder = {}
    with pytest.raises(exc):
        with lineage.run(kind="evaluate", repo=lab.repo) as r:
            holder["id"] = r.id
            r.input(lab.root / "models/model.pkl", role="model")
            r.input(lab.root / "data/test_s.csv", role="test")
            for name, value, split in metrics:
                r.log_metric(name, value, split=split)
            raise exc("crashed")
    return holder["id"]


@pytest.mark.parametrize("interrupt", [False, True])
def test_a_failed_evaluation_that_logged_a_test_score_is_a_use_of_the_test_set(lab, interrupt):
    ids = clean_pipeline(lab)
    failed = _failed_evaluate(lab, [("accuracy", 0.9, "test")], interrupt=interrupt)
    assert lab.repo.graph.conn.execute("SELECT status FROM runs WHERE run_id = ?", (failed,)).fetchone()[0] \
        == ("aborted" if interrupt else "failed")
    # the failed scoring is itself a reuse of the test set scored by ids["evaluate"]
    [f] = lab.audit(failed, ["test-reuse"]).findings
    assert f.evidence["uses"] == 2
    # and the next scoring counts it
    again = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
                    metrics=[("accuracy", 0.85, "test")])
    [f] = lab.audit(again, ["test-reuse"]).findings
    assert [e["run_id"] for e in f.evidence["earlier"]] == [ids["evaluate"], failed]
    assert f.evidence["uses"] == 3


def test_a_score_without_a_split_counts_too(lab):
    clean_pipeline(lab)
    failed = _failed_evaluate(lab, [("accuracy", 0.9, None)])
    assert lab.slugs(failed, ["test-reuse"]) == {"test-reuse"}


def test_a_failed_evaluation_that_logged_nothing_is_not_a_use(lab):
    # only the failed run and then one real scoring: no reuse anywhere
    ids = clean_pipeline(lab)
    failed = _failed_evaluate(lab)
    assert lab.audit(failed, ["test-reuse"]).findings == []
    validation_only = _failed_evaluate(lab, [("loss", 0.3, "validation")])
    assert lab.audit(validation_only, ["test-reuse"]).findings == []
    again = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
                    metrics=[("accuracy", 0.85, "test")])
    [f] = lab.audit(again, ["test-reuse"]).findings
    assert [e["run_id"] for e in f.evidence["earlier"]] == [ids["evaluate"]]   # not the failed ones
    assert f.evidence["uses"] == 2


def test_a_failed_first_evaluation_without_a_score_leaves_the_next_scoring_first(lab):
    from audit.conftest import rows

    full = rows(300, seed=3)
    lab.table("data/full.csv", full, name="full", label_column="label")
    lab.table("data/train.csv", full[:250])
    lab.table("data/test_s.csv", full[250:])
    lab.write("models/model.pkl", "weights")
    lab.run("train", [("train", "data/train.csv")], ["models/model.pkl"])
    _failed_evaluate(lab)
    first = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
                    metrics=[("accuracy", 0.8, "test")])
    assert lab.slugs(first, ["test-reuse"]) == set()
    scored = _failed_evaluate(lab, [("accuracy", 0.7, "test")])
    second = lab.run("evaluate", [("model", "models/model.pkl"), ("test", "data/test_s.csv")],
                     metrics=[("accuracy", 0.81, "test")])
    [f] = lab.audit(second, ["test-reuse"]).findings
    assert [e["run_id"] for e in f.evidence["earlier"]] == [first, scored]


def test_the_policy_helper():
    assert counts_as_scoring("succeeded", [])
    assert counts_as_scoring("running", [])
    assert counts_as_scoring("failed", ["test"]) and counts_as_scoring("aborted", [None])
    assert not counts_as_scoring("failed", []) and not counts_as_scoring("aborted", ["validation"])
