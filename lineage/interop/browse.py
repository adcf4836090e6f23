"""Browse the lineage database in Datasette (``lineage browse``; extra ``lineage[browse]``).

    metadata(db_name)            -> Datasette metadata: every table and view described,
                                    the canned auditor queries
    prepare(repo, host, port)    -> a Browser: the command line that serves the database
    serve(browser)               -> run it until Ctrl-C (or SIGTERM)

The database is served in Datasette's immutable mode (``datasette serve -i``): SQLite
opens it with ``immutable=1``, read-only, and Datasette refuses anything but SELECT. The
descriptions of the tables and views live here, once (``TABLES``); a test checks them
against the tables of a fresh repository, so a new table must be described here.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineage.errors import LineageError, UsageError
from lineage.repo import Repo

BROWSE_HINT = "install lineage[browse] (pip install 'lineage[browse]')"

#: The port tried first when none is given; a free one is taken when it is in use.
DEFAULT_PORT = 8001

#: Every table and view of ``lineage.db`` with a one-line description (docs/queries.md
#: has the columns). Metadata and tests read this one dict.
TABLES: dict[str, str] = {
    # the stable auditor views
    "run_inputs": "Stable auditor view: one row per input a run read, with its role, snapshot, "
                  "content key, the run's status, user and code commit.",
    "run_outputs": "Stable auditor view: one row per snapshot a run wrote.",
    "evaluations": "Stable auditor view: final scorings, one row per test input of an evaluate run.",
    "lineage_edges": "Stable auditor view: every edge of the lineage graph (snapshot to run: input, "
                     "with its role; run to snapshot: output).",
    "file_rows": "Tabular files of every snapshot with their row count and rows_key, an order-free "
                 "key of their rows: equal for the same rows in any order, format or column order.",
    # run records
    "runs": "One row per run: kind, status, exit code, command (credentials masked), times, user, "
            "host, git commit and dirty flag, environment.",
    "run_input_records": "Each input recorded for a run: snapshot, role, path, dataset.",
    "run_output_records": "Each output recorded for a run: snapshot, path, dataset.",
    "run_params": "Parameters of runs (the last value recorded for a name wins).",
    "metrics": "Every metric value logged by a run, with its split and step.",
    "edges_up": "The lineage graph walked upstream: child, parent, kind (input or output).",
    "edges_down": "The lineage graph walked downstream: parent, child, kind (input or output).",
    "snapshot_content": "Each snapshot's content key (over its sorted file digests): finds copies "
                        "of a snapshot under any name.",
    # snapshots and datasets
    "events": "The append-only, hash-linked event log: the truth every other table is rebuilt from.",
    "event_heads": "The current heads of the event log.",
    "event_parents": "The parent links between events of the log.",
    "snapshots": "One row per snapshot: kind (file or folder), file count, total size, first seen.",
    "snapshot_records": "Each time a snapshot was recorded: dataset, version, path, message, user, "
                        "host, git commit and dirty flag, whether stored.",
    "snapshot_aliases": "Other names of snapshots (for example the md5 of an imported DVC output).",
    "snapshot_references": "Where the bytes of by-reference snapshots live: URL, file count, "
                           "whether every file has a version ID.",
    "reference_files": "ETag and version ID of each file of a by-reference snapshot, by its "
                       "snapshot.reference event.",
    "files": "The files of each snapshot: path, size, digest, executable bit.",
    "datasets": "Tracked datasets: name, path, declared columns, latest snapshot and version.",
    "tabular_files": "Row fingerprints and column profiles of tabular files, by file digest.",
    # audit
    "waivers": "Accepted audit findings: rule, run, reason, who, when, expiry.",
    "waiver_revocations": "Waivers that were revoked: which, why, who, when.",
}

#: How a table's page opens: newest first, faceted by what an auditor filters on. The
#: log's plumbing (parents, heads, the two walk tables) is hidden from the lists, behind
#: Datasette's "hidden tables" link; the lineage_edges view is their stable form.
TABLE_OPTIONS: dict[str, dict[str, Any]] = {
    "runs": {"sort_desc": "started", "facets": ["kind", "status", "user", "git_dirty"]},
    "run_inputs": {"facets": ["role", "run_kind", "status"]},
    "run_input_records": {"facets": ["role", "dataset"]},
    "metrics": {"facets": ["name", "split"]},
    "snapshot_records": {"sort_desc": "time", "facets": ["dataset", "user", "git_dirty"]},
    "datasets": {"facets": ["tracked", "external"]},
    "events": {"sort_desc": "seq", "facets": ["type", "actor"]},
    "waivers": {"sort_desc": "time", "facets": ["rule", "user"]},
    "event_parents": {"hidden": True},
    "event_heads": {"hidden": True},
    "edges_up": {"hidden": True},
    "edges_down": {"hidden": True},
}

#: Canned queries for what auditors ask. Parameters are named (``:snapshot``) and take
#: full IDs (copy them from a table page).
QUERIES: dict[str, dict[str, str]] = {
    "test_set_usage": {
        "title": "Test-set usage by content",
        "description": "Every run that read a snapshot as test: the snapshot itself, a copy with the "
                       "same files (content_key), or a file holding the same rows in any order or "
                       "format (rows_key). Give the test snapshot's full ID. `lineage used-by` also "
                       "finds files holding 90 % of the rows.",
        "sql": """\
SELECT run_id, run_kind, status, user,
  CASE match WHEN 1 THEN 'same-snapshot' WHEN 2 THEN 'same-content' ELSE 'same-rows' END AS match,
  read_as, first_read, git_commit, git_dirty
FROM (
  SELECT i.run_id, i.run_kind, i.status, i.user, i.git_commit, i.git_dirty,
    min(CASE WHEN i.snapshot_id = :snapshot THEN 1
             WHEN i.content_key IN (SELECT content_key FROM snapshot_content
                                    WHERE snapshot_id = :snapshot) THEN 2
             ELSE 3 END) AS match,
    group_concat(DISTINCT coalesce(i.path, i.dataset)) AS read_as,
    min(i.time) AS first_read
  FROM run_inputs i
  WHERE i.role = 'test' AND (
    i.snapshot_id = :snapshot
    OR i.content_key IN (SELECT content_key FROM snapshot_content WHERE snapshot_id = :snapshot)
    OR i.snapshot_id IN (SELECT a.snapshot_id FROM file_rows a
                         JOIN file_rows b ON b.rows_key = a.rows_key
                         WHERE b.snapshot_id = :snapshot))
  GROUP BY i.run_id)
ORDER BY first_read, run_id""",
    },
    "runs_by_model": {
        "title": "Runs by model",
        "description": "The runs that wrote a model snapshot's content, and every run that read it "
                       "(scored it, tuned from it), by role. Give the model snapshot's full ID.",
        "sql": """\
SELECT 'wrote' AS how, o.run_id, o.run_kind, o.status, o.path, o.time, o.user,
  o.git_commit, o.git_dirty
FROM run_outputs o
WHERE o.snapshot_id = :model
  OR o.content_key IN (SELECT content_key FROM snapshot_content WHERE snapshot_id = :model)
UNION ALL
SELECT 'read as ' || i.role, i.run_id, i.run_kind, i.status, i.path, i.time, i.user,
  i.git_commit, i.git_dirty
FROM run_inputs i
WHERE i.snapshot_id = :model
  OR i.content_key IN (SELECT content_key FROM snapshot_content WHERE snapshot_id = :model)
ORDER BY time, run_id""",
    },
    "findings_and_waivers": {
        "title": "Findings and waivers",
        "description": "Audit findings are computed by `lineage audit` when it runs and are not "
                       "stored in the database; what is stored is the waivers that accepted them. "
                       "Every waiver, newest first, with its revocation if any.",
        "sql": """\
SELECT w.rule, w.run_id, w.reason, w.user, w.time, w.expires, w.forced,
  r.time AS revoked, r.user AS revoked_by, r.reason AS revoke_reason, w.event_id AS waiver_id
FROM waivers w LEFT JOIN waiver_revocations r ON r.waiver_id = w.event_id
ORDER BY w.time DESC, w.event_id""",
    },
    "snapshots_of_commit": {
        "title": "Snapshots of a commit",
        "description": "The snapshots recorded while the code was at a git commit (a prefix of its "
                       "hash is enough), with their dataset and size.",
        "sql": """\
SELECT r.snapshot_id, r.dataset, r.version, r.path, r.message, r.time, r.user,
  r.git_commit, r.git_dirty, s.file_count, s.total_size
FROM snapshot_records r JOIN snapshots s ON s.id = r.snapshot_id
WHERE r.git_commit LIKE :commit || '%'
ORDER BY r.time, r.snapshot_id""",
    },
}


#: Datasette's ``serve``, without its rich dump (locals included) of every refused query
#: on stdout: a refused statement is answered with its error, and logged as one line.
_LAUNCH = ("from datasette.cli import cli; import datasette.handle_exception as h; h.rich = None; "
           "from datasette.plugins import pm; import lineage.interop.browse_plugin as p; "
           "pm.register(p, name=p.NAME); cli(prog_name='datasette')")

#: The renderer ``lineage browse`` links run rows to (``render(repo, run_id, fmt="html")``),
#: named here and imported by the plug-in when a report is asked for.
REPORT_RENDERER = "lineage.report:render"


def metadata(db_name: str = "lineage", *, root: Path | None = None,
             renderer: str | None = None) -> dict[str, Any]:
    """Datasette metadata: titles, every table and view described, the canned queries;
    with ``root`` and ``renderer``, the plug-in's settings that link runs to their reports."""
    plugin = {"repo": str(root), "renderer": renderer} if root and renderer else {}
    return {
        "plugins": {"lineage": plugin},
        "title": "Lineage graph",
        "description": "The lineage database of this repository, read-only: snapshots, runs, their "
                       "inputs and outputs with roles, and waivers. Start with the canned queries "
                       "or the stable auditor views (run_inputs, run_outputs, evaluations, "
                       "lineage_edges).",
        "databases": {db_name: {
            "title": "lineage.db",
            "description": "Projections of the event log (lineage rebuild refills them); "
                           "opened immutable, so nothing here can change it.",
            "tables": {**{name: {"description": text, **TABLE_OPTIONS.get(name, {})}
                          for name, text in TABLES.items()},
                       "sqlite_sequence": {"hidden": True}},  # SQLite's own AUTOINCREMENT counters
            # the SQL stays one click away ("show"): the page leads with parameters and rows
            "queries": {name: {**q, "hide_sql": True} for name, q in QUERIES.items()},
        }},
    }


@dataclass(frozen=True)
class Browser:
    """What ``serve`` starts: the Datasette command line, its URL and its temp folder."""

    argv: tuple[str, ...]
    url: str
    host: str
    port: int
    loopback: bool
    workdir: str

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "host": self.host, "port": self.port, "loopback": self.loopback}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _check_host(host: str) -> None:
    try:
        socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        raise UsageError(f"cannot resolve host {host!r}") from None


def prepare(repo: Repo, *, host: str = "127.0.0.1", port: int | None = None,
            open_browser: bool = False, report_renderer: str | None = None) -> Browser:
    """Check Datasette is there, pick the port, write the metadata; the command to serve.

    The repository's database is brought up to date (migrations) here; call ``serve``
    after closing the repository, so SQLite folds its write-ahead log into the file and
    the immutable view shows every recorded event.
    """
    try:
        import datasette  # noqa: F401
    except ImportError:
        raise LineageError(f"lineage browse needs Datasette: {BROWSE_HINT}") from None
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, not {port}")
    _check_host(host)
    db = repo.db_path
    if not db.exists():
        raise LineageError(f"no lineage database at {db}")
    repo.graph  # noqa: B018 - opens the database: migrations run before it is served
    if port is None:
        port = DEFAULT_PORT if _port_free(host, DEFAULT_PORT) else _free_port(host)
    elif not _port_free(host, port):
        raise UsageError(f"port {port} on {host} is in use; give another with --port")
    workdir = tempfile.mkdtemp(prefix="lineage-browse-")
    meta = Path(workdir) / "metadata.json"
    meta.write_text(json.dumps(metadata(db.stem, root=repo.root, renderer=report_renderer), indent=2,
                               ensure_ascii=False))
    argv = [sys.executable, "-c", _LAUNCH, "serve", "-i", str(db), "--metadata", str(meta),
            "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
            # long cells (a run's environment, a command) cut on HTML pages, whole in JSON and CSV
            "--setting", "truncate_cells_html", "160"]
    if report_renderer:  # the runs table gets a report column
        from lineage.interop.browse_plugin import REPORT_TEMPLATE

        templates = Path(workdir) / "templates"
        templates.mkdir()
        (templates / f"_table-{db.stem}-runs.html").write_text(REPORT_TEMPLATE)
        argv += ["--template-dir", str(templates)]
    if open_browser:
        argv.append("--open")
    shown = f"[{host}]" if ":" in host else host
    return Browser(tuple(argv), f"http://{shown}:{port}/", host, port, is_loopback(host), workdir)


def serve(browser: Browser) -> int:
    """Run Datasette until it exits, Ctrl-C or SIGTERM; its exit code.

    Datasette runs in its own session, so a Ctrl-C on the terminal reaches this process
    only, which asks Datasette once to stop (SIGINT) and waits for it; it is killed if it
    does not stop within ten seconds. ``KeyboardInterrupt`` is raised again afterwards.
    """
    proc = subprocess.Popen(browser.argv, start_new_session=True, preexec_fn=_die_with_parent())
    old_term = signal.getsignal(signal.SIGTERM)
    old_int = signal.getsignal(signal.SIGINT)

    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
        # SIGINT stops the server even when this process was started with it ignored (a
        # shell's background job, some test runners), as Datasette's own server does
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread
        old_term = old_int = None
    try:
        return proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        raise
    finally:
        if proc.poll() is None:
            _stop(proc)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if old_int is not None:
            signal.signal(signal.SIGINT, old_int)
        shutil.rmtree(browser.workdir, ignore_errors=True)


def _die_with_parent() -> Any:
    """On Linux, a function run in the child before Datasette starts that has the kernel
    send it SIGTERM when this process dies (``PR_SET_PDEATHSIG``): a ``lineage browse``
    that is killed outright leaves no server behind. None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None

    def arm() -> None:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG

    return arm


def _stop(proc: subprocess.Popen[Any]) -> None:
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except (ProcessLookupError, KeyboardInterrupt):
        if proc.poll() is None:
            proc.kill()
            proc.wait()


__all__ = ["BROWSE_HINT", "Browser", "DEFAULT_PORT", "QUERIES", "REPORT_RENDERER", "TABLES",
           "is_loopback", "metadata", "prepare", "serve"]
