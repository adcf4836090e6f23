"""``lineage-hook``: the light entry point that pre-commit and plain git hooks call.

It parses with argparse and prints plain text, so a commit does not pay for
importing typer and rich; only ``audit`` loads the full CLI, because it *is*
``lineage audit``.

    lineage-hook status [TARGET...]       tracked datasets changed since their snapshot
    lineage-hook guard [FILE...|--staged] staged files that are data, not code
    lineage-hook audit [--fail-on LEVEL] [FILE...]
                                          audit the runs recorded since the last commit and
                                          the runs whose outputs the commit holds
    lineage-hook verify                   rehash objects, check the event log

Exit codes: 0 nothing to object to, 1 problems found, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

from lineage.errors import LineageError, UsageError, guarded, warnings_through
from lineage.hooks import checks, guard
from lineage.repo import Repo


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lineage-hook",
        description="Commit-time checks of lineage (for pre-commit and git hooks).")
    p.add_argument("-C", dest="chdir", metavar="PATH", help="Run as if started in this folder.")
    sub = p.add_subparsers(dest="check", required=True, metavar="CHECK")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--json", action="store_true", help="Print the result as JSON on stdout.")
        sp.add_argument("-v", "--verbose", action="store_true", help="Report success too.")

    s = sub.add_parser("status", help="Fail when a tracked dataset changed since its last snapshot.")
    s.add_argument("targets", nargs="*", metavar="TARGET",
                   help="Dataset names or paths (default: every tracked dataset). Paths of "
                        "ordinary files passed by pre-commit are ignored.")
    common(s)

    g = sub.add_parser("guard", help="Fail when a staged file is data that belongs under lineage.")
    g.add_argument("files", nargs="*", metavar="FILE", help="Files to check (pre-commit passes the staged ones).")
    g.add_argument("--staged", action="store_true", help="Check the files staged in git (sizes from the index).")
    g.add_argument("--max-size", metavar="SIZE", help="Largest file allowed in git, e.g. 500KiB or 5MiB (default 1MiB; KB and MB mean the same).")
    g.add_argument("--data-dir", action="append", default=[], metavar="DIR",
                   help="A folder whose data-format files belong under lineage (repeatable; replaces the configured list).")
    g.add_argument("--ext", action="append", default=[], metavar="EXT",
                   help="Another extension that counts as data (repeatable).")
    g.add_argument("--allow", action="append", default=[], metavar="GLOB", help="Never flag paths matching this glob (repeatable).")
    common(g)

    a = sub.add_parser("audit", help="Audit the runs recorded since the last commit, and the runs "
                                     "whose outputs the commit holds.")
    a.add_argument("files", nargs="*", metavar="FILE",
                   help="Files of the commit (pre-commit passes them): the runs that wrote them are "
                        "audited too. Files the index does not stage (pre-commit run --all-files) "
                        "mean a check of the whole tree: every run is audited.")
    a.add_argument("--fail-on", choices=["critical", "error", "warning", "info", "never"],
                   help="Fail on findings at or above this severity (default: the configured "
                        "level, else error).")
    a.add_argument("--all", dest="all_runs", action="store_true", help="Audit every run, not only the new ones.")
    a.add_argument("--since", metavar="REF", help="Audit runs recorded since this git commit (default: HEAD).")
    a.add_argument("--format", default="text", choices=["text", "json", "sarif", "junit"])
    a.add_argument("--no-staged", action="store_true",
                   help="Do not add the runs whose outputs are staged (by default they are audited "
                        "too, however old).")
    a.add_argument("-v", "--verbose", action="store_true", help="Print the report on success too.")

    v = sub.add_parser("verify", help="Rehash every object and check the event log's hash links.")
    common(v)
    return p


def _repo() -> Repo:
    return Repo.find()


def _status_targets(repo: Any, targets: list[str]) -> list[str] | None:
    """Keep dataset names and tracked paths; pre-commit may pass unrelated filenames."""
    if not targets:
        return None
    from lineage.snapshots import queries  # lazy: the guard hook never needs it

    known = {r.name for r in queries.tracked_datasets(repo.graph)}
    known |= {r.path for r in queries.tracked_datasets(repo.graph) if r.path}
    chosen = [t for t in targets if t in known or repo.relpath(t) in known]
    return chosen or None


def _with_staged_runs(argv: list[str], root: Path, files: list[str] = ()) -> list[str]:
    """Turn ``audit --since REF`` into ``audit ID...`` when staged files (or ``files``, the
    commit's files pre-commit passed) are outputs of older runs."""
    with _repo() as repo:
        extra = checks.runs_behind_staged(repo, root, files)
        if not extra:
            return argv
        from lineage import audit  # lazy: heavy, and only this hook needs it

        if "--since" in argv:
            since = argv[argv.index("--since") + 1]
            recent = audit.select_runs(repo, since=since)
        else:
            recent = audit.select_runs(repo, all_runs=True)
    ids = list(dict.fromkeys(recent + extra))
    rest = argv[argv.index("--format"):]
    return ["audit", *ids, *rest]


def _run(ns: argparse.Namespace) -> int:
    if ns.check == "audit":
        if importlib.util.find_spec("lineage.audit") is None:
            raise UsageError("this version of lineage has no audit; upgrade lineage")
        from lineage.cli.app import main as cli_main  # lazy: typer and rich, for this hook only

        root = checks.git_toplevel(Path.cwd())
        files = [checks.root_relative(root, f) for f in ns.files]
        # pre-commit passes the staged files on a commit; files the index does not stage
        # mean a run over the tree (pre-commit run --all-files): audit every run
        whole_tree = bool(files) and not os.environ.get("PRE_COMMIT_FROM_REF") and bool(
            set(files) - set(checks.staged_paths(root)))
        all_runs = ns.all_runs or whole_tree
        argv = checks.audit_args(root, fail_on=ns.fail_on, all_runs=all_runs, since=ns.since,
                                 fmt="json" if ns.format == "text" else ns.format)
        if not all_runs and not ns.no_staged:
            argv = _with_staged_runs(argv, root, files)
        if ns.format != "text":
            return cli_main(argv)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = cli_main(argv)
        if code not in (0, 1):
            return code  # bad input: the one-line error is on stderr already
        with _repo() as repo:
            total = len(checks.all_run_ids(repo))
        text = checks.audit_hook_text(json.loads(buf.getvalue()), total, whole_tree=whole_tree,
                                      width=_width())
        if code != 0 or ns.verbose:  # a passing commit stays quiet; a failing one shows it all
            sys.stdout.write(text)
        return code
    if ns.check == "status":
        with _repo() as repo:
            result = checks.check_status(repo, _status_targets(repo, ns.targets))
    elif ns.check == "verify":
        with _repo() as repo:
            result = checks.check_verify(repo)
    else:
        root = checks.git_toplevel(Path.cwd())
        cfg = guard.GuardConfig.load(root)
        changes: dict[str, Any] = {}
        if ns.max_size is not None:
            changes["max_size"] = guard.parse_size(ns.max_size)
        if ns.data_dir:
            changes["data_dirs"] = tuple(d.strip("/") for d in ns.data_dir)
        if ns.ext:
            changes["extensions"] = cfg.extensions + tuple(guard.norm_ext(e) for e in ns.ext)
        if ns.allow:
            changes["allow"] = cfg.allow + tuple(ns.allow)
        if changes:
            cfg = dataclasses.replace(cfg, **changes)
        if ns.staged:
            files = checks.staged_files(root)
        else:
            files = []
            for f in ns.files:
                path = Path(f)
                try:
                    size = os.stat(path).st_size
                except FileNotFoundError:
                    continue  # deleted or renamed away: nothing to store
                rel = os.path.relpath(path.resolve(), root)
                files.append((Path(rel).as_posix(), size))
        result = guard.check_guard(root, files, cfg)
    if ns.json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    if not result.ok:
        sys.stderr.write(result.render() + "\n")
    elif ns.verbose and not ns.json:
        sys.stderr.write(result.render() + "\n")
    return 0 if result.ok else 1


def _width() -> int:
    """Columns for the audit report: ``COLUMNS``, else the terminal's, else 80."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)  # exits 2 on bad usage, as argparse does
    old = os.getcwd()

    def body() -> int:
        if ns.chdir:
            if not os.path.isdir(ns.chdir):
                raise LineageError(f"not a folder: {ns.chdir}")
            os.chdir(ns.chdir)
        return _run(ns)

    def say(message: str) -> None:
        sys.stderr.write(f"lineage-{ns.check}: error: {message}\n")

    warnings_through(lambda message: sys.stderr.write(f"lineage-{ns.check}: warning: {message}\n"))
    try:
        return guarded(body, say)  # one line and exit 2 whatever fails: never a traceback
    finally:
        os.chdir(old)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
