"""Fixtures for remote tests: a real SeaweedFS S3 server, local and S3 remotes, clones.

``tests/sync`` is a package so this conftest does not shadow ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import s3_server
from conftest import make_git_repo


@pytest.fixture(scope="session")
def s3():
    """One SeaweedFS server per test session (per xdist worker)."""
    server = s3_server.start()
    yield server
    server.stop()


@dataclass
class RemoteEnv:
    """Where a test's remote lives and how to poke at it behind lineage's back."""

    kind: str
    url: str
    fs: Any
    root: str
    options: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def cli_args(self) -> list[str]:
        args = []
        if "endpoint_url" in self.options:
            args += ["--endpoint-url", self.options["endpoint_url"]]
        return args

    def put(self, rel: str, data: bytes) -> None:
        path = f"{self.root}/{rel}"
        if self.kind == "local":
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self.fs.pipe_file(path, data)

    def files(self, sub: str) -> list[str]:
        try:
            top = f"{self.root}/{sub}".rstrip("/")
            # SeaweedFS may list an emptied folder as a key of its own
            return sorted(p for p in self.fs.find(top) if p.rstrip("/") != top)
        except FileNotFoundError:
            return []


def _local_env(tmp_path: Path) -> RemoteEnv:
    import fsspec

    root = tmp_path / "remote"
    return RemoteEnv("local", str(root), fsspec.filesystem("file"), str(root))


def _s3_env(server: s3_server.S3Server, monkeypatch: pytest.MonkeyPatch) -> RemoteEnv:
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    bucket = f"t{uuid.uuid4().hex[:12]}"
    fs = server.filesystem()
    fs.mkdir(bucket)
    return RemoteEnv("s3", f"s3://{bucket}/team/store", fs, f"{bucket}/team/store",
                     {"endpoint_url": server.endpoint}, server.env())


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def remote_env(request, tmp_path, monkeypatch) -> RemoteEnv:
    """A fresh remote: a local folder, or a bucket on the SeaweedFS server."""
    if request.param == "local":
        return _local_env(tmp_path)
    return _s3_env(request.getfixturevalue("s3"), monkeypatch)


@pytest.fixture
def local_remote(tmp_path) -> RemoteEnv:
    return _local_env(tmp_path)


@pytest.fixture
def s3_remote(s3, monkeypatch) -> RemoteEnv:
    return _s3_env(s3, monkeypatch)


@pytest.fixture
def make_clone(tmp_path):
    """make_clone(name, env) -> an initialised repository with ``origin`` pointing at env."""
    from lineage.sync import remotes
    from lineage.repo import Repo

    opened: list[Any] = []

    def make(name: str, env: RemoteEnv, **options: Any):
        path = make_git_repo(tmp_path / name)
        repo, _ = Repo.init(path)
        remotes.add(repo, "origin", env.url, default=True, **{**env.options, **options})
        opened.append(repo)
        return repo

    yield make
    for repo in opened:
        repo.close()
