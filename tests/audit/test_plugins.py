"""Rule plug-ins that go wrong: a taken slug, a broken package, a rule that raises.

A plug-in is faked as an installed distribution (a ``*.dist-info`` with an
``entry_points.txt``) on ``PYTHONPATH`` of a real ``lineage`` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audit.conftest import clean_pipeline
from lineage import audit
from lineage.audit.context import AuditContext
from lineage.errors import RuleError


def install_plugin(tmp_path: Path, modules: dict[str, str], entry_points: dict[str, str]) -> dict[str, str]:
    """A fake installed distribution ``acme-rules``; the environment that sees it."""
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    for name, source in modules.items():
        (plugin / f"{name}.py").write_text(textwrap.dedent(source))
    dist = plugin / "acme_rules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[lineage.rules]\n{lines}")
    return {**os.environ, "PYTHONPATH": str(plugin)}


def lineage_run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


OWNER_RULE = '''
    from lineage.audit.rules import Rule, Severity

    class EveryRunNeedsAnOwner(Rule):
        """Flags every run."""
        slug = "acme-owner"
        severity = Severity.info

        def check(self, ctx, run):
            return [self.finding(run, "checked by acme")]
'''


def test_a_plugin_taking_a_builtin_slug_is_refused_and_the_builtin_kept(lab, tmp_path):
    env = install_plugin(tmp_path, {"acme_rules": OWNER_RULE + '''
    class FakeOverlap(Rule):
        """Pretends to be exact-overlap and finds nothing."""
        slug = "exact-overlap"

        def check(self, ctx, run):
            return []
    '''}, {"acme-owner": "acme_rules:EveryRunNeedsAnOwner", "fake-overlap": "acme_rules:FakeOverlap"})
    r = lineage_run(["rules", "--json"], lab.root, env)
    assert r.returncode == 0, r.stderr
    by_slug = {x["rule"]: x for x in json.loads(r.stdout)["rules"]}
    assert by_slug["exact-overlap"]["source"] == "lineage.audit.rules.overlap"
    assert "acme-owner" in by_slug  # the good rule of the same package still registers
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("warning:") and "'fake-overlap'" in line and "'exact-overlap'" in line
    assert "already taken" in line


@pytest.mark.parametrize("target, source, why", [
    ("acme_broken:Rule", "import no_such_module_anywhere\n", "failed to load (ModuleNotFoundError"),
    ("acme_broken:helper", "def helper():\n    return 1\n", "not a lineage Rule class"),
    ("acme_missing:Rule", None, "failed to load"),
])
def test_a_broken_plugin_is_skipped_with_a_warning_naming_it(lab, tmp_path, target, source, why):
    modules = {"acme_rules": OWNER_RULE}
    if source is not None:
        modules["acme_broken"] = source
    env = install_plugin(tmp_path, modules, {"acme-owner": "acme_rules:EveryRunNeedsAnOwner", "acme-bad": target})
    run_id = clean_pipeline(lab)["evaluate"]
    r = lineage_run(["rules", "--json"], lab.root, env)
    assert r.returncode == 0, r.stderr
    slugs = {x["rule"] for x in json.loads(r.stdout)["rules"]}
    assert {"acme-owner", "exact-overlap", "temporal-order"} <= slugs
    [line] = r.stderr.strip().splitlines()
    assert line.startswith("warning:") and f"'acme-bad' ({target})" in line and why in line
    # the audit still runs, with the same warning
    r = lineage_run(["audit", run_id, "--json"], lab.root, env)
    assert r.returncode in (0, 1) and "acme-owner" in {f["rule"] for f in json.loads(r.stdout)["findings"]}
    assert "'acme-bad'" in r.stderr and "unexpected" not in r.stderr


def test_a_rule_that_raises_stops_the_audit_with_exit_2_naming_it(lab, tmp_path):
    env = install_plugin(tmp_path, {"acme_rules": '''
    from lineage.audit.rules import Rule

    class Boom(Rule):
        """Always fails."""
        slug = "acme-boom"

        def check(self, ctx, run):
            raise ZeroDivisionError("division by zero")
    '''}, {"acme-boom": "acme_rules:Boom"})
    run_id = clean_pipeline(lab)["evaluate"]
    for args in (["audit", run_id], ["audit", "--all", "--json"], ["audit", run_id, "--format", "sarif"]):
        r = lineage_run(args, lab.root, env)
        assert r.returncode == 2, r
        [line] = r.stderr.strip().splitlines()
        assert "rule acme-boom failed on run" in line and "ZeroDivisionError" in line
        assert "Traceback" not in r.stderr and r.stdout == ""


def test_a_raising_builtin_rule_is_an_error_not_a_finding(lab, monkeypatch):
    """temporal-order once swallowed what it raised; no rule does now."""
    run_id = clean_pipeline(lab)["evaluate"]

    def broken(self, snapshot_id):
        raise OSError("fingerprints unreadable")

    monkeypatch.setattr(AuditContext, "fingerprints", broken)
    for slug in ("temporal-order", "exact-overlap", "group-overlap"):
        with pytest.raises(RuleError) as info:
            audit.run(lab.repo, [run_id], only=[slug])
        assert info.value.rule == slug and info.value.run_id == run_id
        assert isinstance(info.value.cause, OSError)


def test_temporal_order_skips_time_stamps_against_numbers(lab):
    """A time column of dates in one split and numbers in the other has no order: no
    finding, and no error."""
    train = [{"t": f"2024-01-{1 + i // 10:02d}T{i % 10:02d}:00:00Z", "x": i} for i in range(100)]
    test = [{"t": i, "x": i} for i in range(20)]
    lab.table("data/train.csv", train, name="train", time_column="t")
    lab.table("data/test.csv", test, name="test", time_column="t")
    lab.write("models/m.pkl", "m")
    lab.run("train", [("train", "data/train.csv")], ["models/m.pkl"])
    ev = lab.run("evaluate", [("model", "models/m.pkl"), ("test", "data/test.csv")])
    assert lab.audit(ev, ["temporal-order"]).findings == []
