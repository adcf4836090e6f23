"""Projectors of the ``run.*`` events (and the content key of every snapshot).

Event bodies are documented in docs/architecture.md and schemas/run-events.schema.json.
Projectors tolerate events of a run arriving before its ``run.start`` (a partial merge)
and a second ``run.finish`` (the first one recorded wins), so every clone folds the
same log into the same tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

import blake3

from lineage.log.events import Event
from lineage.log.registry import projector
from lineage.core.hashing import hash_bytes


def content_key(digests: Iterable[str]) -> str:
    """One key for the multiset of file digests of a snapshot, whatever the file names:
    the hash of the sorted digests joined by newlines, hashed a slice at a time (a
    snapshot may list a million files)."""
    ordered = sorted(digests)
    if len(ordered) <= _KEY_SLICE:
        return hash_bytes("\n".join(ordered).encode())
    h = blake3.blake3()
    for i in range(0, len(ordered), _KEY_SLICE):
        h.update((("\n" if i else "") + "\n".join(ordered[i:i + _KEY_SLICE])).encode())
    return h.hexdigest()


_KEY_SLICE = 8192


@projector("snapshot")
def _snapshot_content(conn: sqlite3.Connection, ev: Event) -> None:
    manifest = ev.body.get("manifest")
    if manifest is None:
        return
    conn.execute(
        "INSERT OR IGNORE INTO snapshot_content (snapshot_id, content_key) VALUES (?, ?)",
        (ev.body["snapshot_id"], content_key(f["digest"] for f in manifest["files"])),
    )


def sql_value(value: Any) -> Any:
    """A parameter value as SQLite stores it: numbers and text natively, the rest as JSON."""
    if isinstance(value, bool):
        return int(value)
    if value is None or isinstance(value, (int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@projector("run.start")
def _start(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    git = b.get("git") or {}
    env = b.get("env") or {}
    dirty = git.get("dirty")
    conn.execute(
        "INSERT OR IGNORE INTO runs (run_id, kind, status, command, started, user, host, git_commit, "
        "git_branch, git_dirty, git_diff_digest, python, env, parent_run, start_event) "
        "VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (b["run_id"], b["kind"], None if b.get("command") is None else json.dumps(b["command"]),
         ev.time, b.get("user"), b.get("host"), git.get("commit"), git.get("branch"),
         None if dirty is None else int(dirty), git.get("diff_digest"), env.get("python"),
         json.dumps(env, sort_keys=True), b.get("parent_run"), ev.id),
    )
    _params(conn, b["run_id"], b.get("params") or {})


def _params(conn: sqlite3.Connection, run_id: str, params: dict[str, Any]) -> None:
    conn.executemany(
        "INSERT OR REPLACE INTO run_params (run_id, name, value) VALUES (?, ?, ?)",
        [(run_id, k, sql_value(v)) for k, v in params.items()],
    )


@projector("run.param")
def _param(conn: sqlite3.Connection, ev: Event) -> None:
    _params(conn, ev.body["run_id"], ev.body.get("params") or {})


def _edge(conn: sqlite3.Connection, parent: str, child: str, kind: str) -> None:
    conn.execute("INSERT OR IGNORE INTO edges_up (child, parent, kind) VALUES (?, ?, ?)",
                 (child, parent, kind))
    conn.execute("INSERT OR IGNORE INTO edges_down (parent, child, kind) VALUES (?, ?, ?)",
                 (parent, child, kind))


@projector("run.input")
def _input(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "INSERT OR IGNORE INTO run_input_records (event_id, run_id, snapshot_id, role, path, dataset, time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ev.id, b["run_id"], b["snapshot_id"], b["role"], b.get("path"), b.get("dataset"), ev.time),
    )
    _edge(conn, b["snapshot_id"], b["run_id"], "input")


@projector("run.output")
def _output(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "INSERT OR IGNORE INTO run_output_records (event_id, run_id, snapshot_id, path, dataset, time) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (ev.id, b["run_id"], b["snapshot_id"], b.get("path"), b.get("dataset"), ev.time),
    )
    _edge(conn, b["run_id"], b["snapshot_id"], "output")


@projector("run.metric")
def _metric(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "INSERT OR IGNORE INTO metrics (event_id, run_id, name, value, split, step, time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (ev.id, b["run_id"], b["name"], float(b["value"]), b.get("split"), b.get("step"), ev.time),
    )


@projector("run.finish")
def _finish(conn: sqlite3.Connection, ev: Event) -> None:
    b = ev.body
    conn.execute(
        "UPDATE runs SET status = ?, exit_code = ?, error = ?, ended = ?, finish_event = ? "
        "WHERE run_id = ? AND finish_event IS NULL",
        (b["status"], b.get("exit_code"), b.get("error"), ev.time, ev.id, b["run_id"]),
    )
