"""One meaning per short flag: every command's options, walked through the click tree,
use each short flag for the same long option (lineage.cli.flags.SHORT_FLAGS; docs/cli.md).
A short flag that meant something else in one command before still works there, hidden,
with a warning on stderr."""

from __future__ import annotations

import importlib
from collections import defaultdict

import pytest
import typer

from conftest import write_tree


def all_commands():
    """(command path, click command) of every command and group of the app."""
    app_module = importlib.import_module("lineage.cli.app")
    app_module._register([])  # every command module, each once (as for 'lineage --help')
    root = typer.main.get_command(app_module.app)
    out = []

    def walk(cmd, path):
        out.append((path, cmd))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, f"{path} {name}")

    walk(root, "lineage")
    return out


def short_flags():
    """short flag -> {(command path, long names)} of the visible options."""
    from lineage.cli.flags import DEPRECATED

    seen = defaultdict(set)
    hidden = set()
    for path, cmd in all_commands():
        for p in cmd.params:
            shorts = [o for o in [*p.opts, *p.secondary_opts] if len(o) == 2 and o.startswith("-")]
            longs = tuple(sorted(o for o in [*p.opts, *p.secondary_opts] if o.startswith("--")))
            for s in shorts:
                if getattr(p, "hidden", False):
                    hidden.add((path, s))
                    assert (path, s) in DEPRECATED, f"{path}: hidden {s} is not listed in DEPRECATED"
                else:
                    seen[s].add((path, longs))
    return seen, hidden


def test_each_short_flag_has_one_meaning():
    from lineage.cli.flags import SHORT_FLAGS

    seen, _ = short_flags()
    assert seen, "no short flags found"
    for short, uses in seen.items():
        assert short in SHORT_FLAGS, f"{short} ({sorted(uses)}) is not in lineage.cli.flags.SHORT_FLAGS"
        for path, longs in uses:
            assert SHORT_FLAGS[short] in longs, f"{path}: {short} means {longs}, not {SHORT_FLAGS[short]}"
        common = set.intersection(*(set(longs) for _, longs in uses))
        assert common, f"{short} has several meanings: {sorted(uses)}"


def test_every_deprecated_short_flag_is_hidden_where_it_was():
    from lineage.cli.flags import DEPRECATED

    _, hidden = short_flags()
    assert hidden == set(DEPRECATED)


def test_the_old_meanings_moved_off_the_contested_flags():
    seen, _ = short_flags()
    assert {longs for _, longs in seen["-f"]} == {("--force",)}
    assert all("--max-count" in longs for _, longs in seen["-n"])
    assert {longs for _, longs in seen["-p"]} == {("--param",)}
    assert {longs for _, longs in seen["-r"]} == {("--remote",)}
    assert {longs for _, longs in seen["-F"]} == {("--format",)}
    assert {longs for _, longs in seen["-o"]} == {("--output",)}


def test_the_flag_table_in_docs_matches(tmp_path):
    from lineage.cli.flags import SHORT_FLAGS
    from conftest import ROOT

    text = (ROOT / "docs" / "cli.md").read_text()
    for short, long in SHORT_FLAGS.items():
        assert f"| `{short}` | `{long}` |" in text, f"docs/cli.md: no row for {short}"


# -- the old short flags still work, with a warning; the new ones say nothing --------

@pytest.fixture
def data(cli, workdir):
    write_tree(workdir, {"data/a.csv": "x\n1\n", "data/b.csv": "x\n2\n"})
    return workdir


def test_snapshot_old_n_still_names_the_dataset(cli, data):
    r = cli("snapshot", "data/a.csv", "-n", "alpha", "--json")
    assert r.code == 0, r.stderr
    assert r.json["dataset"] == "alpha"
    assert "-n for --name is deprecated" in r.stderr
    r = cli("snapshot", "data/b.csv", "--name", "beta", "--json")
    assert r.code == 0 and "deprecated" not in r.stderr


def test_gc_old_n_is_still_a_dry_run(cli, data):
    r = cli("gc", "-n", "--json")
    assert r.code == 0, r.stderr
    assert r.json["dry_run"] is True and "-n for --dry-run is deprecated" in r.stderr
    r = cli("gc", "--dry-run", "--json")
    assert r.code == 0 and r.json["dry_run"] is True and "deprecated" not in r.stderr


def test_checkout_old_p_is_still_a_path(cli, data):
    assert cli("snapshot", "data", "--name", "d").code == 0
    r = cli("checkout", "d", "out", "-p", "a.csv")
    assert r.code == 0, r.stderr
    assert "-p for --path is deprecated" in r.stderr
    assert (data / "out" / "a.csv").exists() and not (data / "out" / "b.csv").exists()
    r = cli("checkout", "d", "out2", "--path", "b.csv")
    assert r.code == 0 and "deprecated" not in r.stderr
    assert (data / "out2" / "b.csv").exists() and not (data / "out2" / "a.csv").exists()


def test_old_f_is_still_a_format_and_new_F_is_quiet(cli, data):
    r = cli("waivers", "-f", "json")
    assert r.code == 0, r.stderr
    assert r.json == {"waivers": []} and "-f for --format is deprecated" in r.stderr
    r = cli("waivers", "-F", "json")
    assert r.code == 0 and r.json == {"waivers": []} and "deprecated" not in r.stderr
