"""Typo help: one suggestion, the closest dataset names, the versions that exist."""

from __future__ import annotations

import pytest

from conftest import write_tree


@pytest.fixture
def tracked(cli, workdir):
    write_tree(workdir, {"data/train/a.csv": "x,y\n1,0\n", "data/other/b.csv": "x,y\n2,1\n"})
    assert cli("snapshot", "data/train", "--name", "wine-train").code == 0
    write_tree(workdir, {"data/train/a.csv": "x,y\n1,0\n3,1\n"})
    assert cli("snapshot", "data/train", "--name", "wine-train").code == 0
    assert cli("snapshot", "data/other", "--name", "zebra").code == 0
    return workdir


def _one_line(r):
    assert r.code == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_unknown_command_suggests_once(cli):
    err = _one_line(cli("snapshto"))
    assert err.count("Did you mean 'snapshot'?") == 1
    err = _one_line(cli("remote", "ad"))
    assert err.count("Did you mean 'add'?") == 1
    err = _one_line(cli("frobnicate"))
    assert "Did you mean" not in err


def test_unknown_dataset_suggests_the_closest_name(cli, tracked):
    for args in (("show", "wine-trian@1"), ("log", "wine-trian"), ("show", "wine-trian"),
                 ("diff", "wine-trian@1", "wine-train@2"), ("forget", "wine-trian")):
        err = _one_line(cli(*args))
        assert err.count("did you mean 'wine-train'?") == 1, (args, err)
        assert "zebra" not in err
    err = _one_line(cli("log", "completely-else"))
    assert "did you mean" not in err


def test_missing_version_lists_the_versions(cli, tracked):
    err = _one_line(cli("show", "wine-train@9"))
    assert "has no version 9" in err and "1 to 2" in err
    err = _one_line(cli("show", "zebra@3"))
    assert "its only version is 1" in err
    assert cli("show", "wine-train@2").code == 0


def test_short_prefix_says_how_long_it_must_be(cli, tracked):
    err = _one_line(cli("show", "663"))
    assert "at least 4 characters" in err
    err = _one_line(cli("show", "6633"))
    assert "at least 4 characters" not in err
