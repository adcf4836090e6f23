"""The public API: lineage.__all__ is complete, and every name in it works as documented."""

import inspect

import pytest

import lineage
from lineage.errors import UsageError


def test_all_names_exist_and_nothing_public_is_missing():
    for name in lineage.__all__:
        assert hasattr(lineage, name), name
    public = {n for n, v in vars(lineage).items()
              if not n.startswith("_") and (inspect.isfunction(v) or inspect.isclass(v))
              and getattr(v, "__module__", "").startswith("lineage")}
    assert public <= set(lineage.__all__), public - set(lineage.__all__)


def test_api_functions_are_documented_and_not_shadowed_by_modules():
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(lineage.__path__):
        if info.name == "__main__":
            continue
        importlib.import_module(f"lineage.{info.name}")  # importing a submodule must not
    for name in lineage.__all__:                        # replace an API function
        value = getattr(lineage, name)
        if inspect.isfunction(value):
            assert value.__doc__, name
            assert not inspect.ismodule(value)


def test_api_round_trip(repo, tmp_path):
    data = repo.root / "data"
    data.mkdir()
    (data / "a.csv").write_text("x,label\n1,0\n2,1\n")
    snap = lineage.snapshot(data, name="d", repo=repo)
    assert lineage.show("d", repo=repo).id == snap.id
    with lineage.run(kind="evaluate", repo=repo) as r:
        r.input(data, role="test")
        r.log_metric("accuracy", 0.5, split="test")
    report = lineage.audit_runs([r.id], repo=repo)
    assert report.exit_code("error") == 0
    with pytest.raises(UsageError, match="no finding"):
        lineage.waive("dirty-code", r.id, "demo", repo=repo)
    assert lineage.waive("dirty-code", r.id, "demo", force=True, repo=repo).forced is True
