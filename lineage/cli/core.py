"""Core commands: init, snapshot, status, log, show, diff, checkout, verify, rebuild."""

from __future__ import annotations

from typing import Any, Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo
from lineage.cli.flags import deprecated

# lineage --help imports this module to list its commands: snapshots and tabular are
# imported inside the commands, so the help does not pay for them.

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        remote: Optional[str] = typer.Option(None, "--remote", help="Add this URL as the default remote."),
        as_json: bool = JSON,
    ) -> None:
        """Create .lineage/ at the root of the git work tree (or here). Safe to repeat."""
        from lineage.repo import Repo

        repo, result = Repo.init()
        data: dict[str, Any] = result.to_dict()
        if remote:
            from lineage.sync import remotes

            data["remote"] = remotes.add(repo, "origin", remote, default=True, exist_ok=True).to_dict()
        out.emit(data, as_json, lambda d: out.print(
            f"{'Initialised' if d['created'] else 'Already initialised'} lineage repository in "
            f"{out.escape(d['root'])}/.lineage" + ("" if d["git"] else " (not a git work tree)")))

    @app.command()
    def snapshot(
        path: str = typer.Argument(..., help="File or folder to snapshot, or a URL (s3://...) to snapshot by reference."),
        name: Optional[str] = typer.Option(None, "--name", help="Dataset name (default: the path)."),
        old_name: Optional[str] = deprecated("-n", "--name"),
        message: Optional[str] = typer.Option(None, "--message", "-m", help="A note kept with the snapshot."),
        label_column: Optional[str] = typer.Option(None, "--label-column", help="Declare the label column."),
        group_column: Optional[str] = typer.Option(None, "--group-column", help="Declare the group key column (e.g. patient_id)."),
        time_column: Optional[str] = typer.Option(None, "--time-column", help="Declare the time column."),
        text_column: Optional[str] = typer.Option(None, "--text-column", help="Declare a free-text column (near-duplicate checks)."),
        no_store: bool = typer.Option(False, "--no-store", help="Record digests without keeping the bytes."),
        move: bool = typer.Option(False, "--move", help="Re-point an existing --name to this path."),
        external: bool = typer.Option(False, "--external", help="Allow a path outside the repository (recorded as external)."),
        engine: Optional[str] = typer.Option(None, "--engine", metavar="local|dask|spark",
                                             help="Where tables are fingerprinted and profiled (docs/scale.md)."),
        scheduler: Optional[str] = typer.Option(None, "--scheduler", metavar="tcp://HOST:PORT",
                                                help="The Dask scheduler to use (default: a local cluster)."),
        as_json: bool = JSON,
    ) -> None:
        """Snapshot a file or folder: hash, store, and record it in the lineage graph. A URL
        (s3://bucket/prefix/) is snapshotted by reference: hashed where it lives, never copied."""
        from lineage import snapshots as snap
        from lineage.snapshots import reference
        from lineage.tabular import engines

        name = name or old_name
        with engines.using(engine, scheduler), open_repo() as repo, out.progress("snapshot") as bar:
            if reference.is_url(path):
                from lineage.tabular import reference as by_reference

                result = by_reference.create(repo, path, name=name, message=message, label_column=label_column,
                                             group_column=group_column, time_column=time_column,
                                             text_column=text_column, move=move, progress=bar)
            else:
                result = snap.create(repo, path, name=name, message=message, label_column=label_column,
                                     group_column=group_column, time_column=time_column,
                                     text_column=text_column, store=not no_store, progress=bar,
                                     move=move, external=external)
        out.emit(result, as_json, _render_snapshot)
        for warning in result.warnings:
            out.warning(warning)

    @app.command()
    def forget(
        name: str = typer.Argument(..., help="Dataset name (or its path)."),
        as_json: bool = JSON,
    ) -> None:
        """Stop tracking a dataset; its snapshots and history are kept."""
        from lineage.snapshots.forget import forget as forget_dataset

        with open_repo() as repo:
            result = forget_dataset(repo, name)
        out.emit(result, as_json, lambda r: out.print(
            f"Forgot {out.escape(r.dataset)}"
            + (f" ({out.escape(r.path)})" if r.path else "")
            + (f"; its history is kept (latest @{r.latest_version} {out.short(r.latest_snapshot)})"
               if r.latest_snapshot else "")))

    @app.command()
    def status(
        target: Optional[str] = typer.Argument(None, help="Dataset name or path (default: all)."),
        exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when anything changed."),
        porcelain: bool = typer.Option(False, "--porcelain", help="One 'XY PATH' line per path that "
                                       "differs, in a stable format for scripts (docs/snapshots.md)."),
        fmt: Optional[str] = out.format_option(),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """What changed since the last snapshot of each tracked dataset."""
        from lineage import snapshots as snap

        fmt = out.resolve_format(fmt, as_json, piped="table")  # a report: its text when piped
        if fmt in ("tsv", "csv"):
            if porcelain:
                raise typer.BadParameter("--porcelain is a format of its own", param_hint="--format")
            with open_repo() as repo:
                _status_listing(snap.status(repo, target), fmt)
            return

        with open_repo() as repo:
            result = snap.status(repo, target)
            # the workspace and git against lineage.lock (lineage.snapshots.status.lock_drift)
            drift = None if target is not None else _lock_drift(repo, result)
            if porcelain and not as_json:
                from lineage.snapshots.status import porcelain as short_form

                for line in short_form(repo, result):
                    out.print(line, markup=False)
        if not porcelain or as_json:
            out.emit({"datasets": result, **({"lock": drift} if drift else {})}, as_json,
                     lambda d: (_render_status(d["datasets"]), _render_lock_drift(d.get("lock"))))
        if exit_code and any(s.dirty for s in result):
            raise typer.Exit(1)

    @app.command()
    def log(
        name: Optional[str] = typer.Argument(None, help="Dataset name (default: every snapshot)."),
        list_runs: bool = typer.Option(False, "--runs", help="List runs instead (those that read or wrote NAME), "
                                       "with their params and metrics."),
        max_count: Optional[int] = typer.Option(None, "--max-count", "-n", "--limit", metavar="N",
                                                help="Only the newest N entries."),
        oneline: bool = typer.Option(False, "--oneline", help="One line per entry: short ID, kind, "
                                     "NAME@N or run kind, first line of the message (or key params and metrics)."),
        since: Optional[str] = typer.Option(None, "--since", metavar="DATE|REF",
                                            help="Only entries since an ISO date/time or a git commit (as audit --since)."),
        author: Optional[str] = typer.Option(None, "--author", metavar="TEXT",
                                             help="Only entries whose user contains TEXT (ignoring case)."),
        fmt: Optional[str] = out.format_option(),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """A dataset's history of snapshots (or with --runs, the runs), newest first."""
        from lineage import snapshots as snap

        if oneline and fmt is None and not as_json:
            fmt = "table"  # --oneline is a format of its own, piped too
        fmt = out.resolve_format(fmt, as_json)
        if oneline and fmt not in ("table", "json"):
            from lineage.errors import UsageError

            raise UsageError(f"--oneline is a format of its own; leave out --format {fmt}")

        if list_runs:
            from lineage.cli.runs import render_runs, render_runs_oneline
            from lineage.runs.history import log_runs

            with open_repo() as repo:
                items = log_runs(repo, name, max_count=max_count, since=since, author=author)
            if oneline and fmt == "table":
                render_runs_oneline(items)
            else:
                render_runs(items, fmt)
            return
        with open_repo() as repo:
            entries = snap.log(repo, name, max_count=max_count, since=since, author=author)
        if oneline and fmt == "table":
            _render_log_oneline(entries)
        else:
            _render_log(entries, fmt)

    @app.command()
    def show(
        ref: str = typer.Argument(..., help="Snapshot ID, prefix, NAME, NAME@N, NAME@latest, or a run ID."),
        schema: bool = typer.Option(False, "--schema", help="Columns and row counts of the tabular files."),
        profile: bool = typer.Option(False, "--profile", help="Column profiles of the tabular files (implies --schema)."),
        fmt: Optional[str] = out.format_option(),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """A snapshot's files, sizes and the commits it was recorded at (or a run's record)."""
        from lineage.runs import provenance

        fmt = out.resolve_format(fmt, as_json, piped="table")  # a report: plain text when piped
        if schema or profile:
            from lineage.cli import tabular as tab_cli
            from lineage.tabular import describe

            with open_repo() as repo:
                described = describe(repo, ref, profile=profile)
            (tab_cli.render_profile if profile else tab_cli.render_schema)(described, fmt)
            return
        with open_repo() as repo:
            info = provenance.describe(repo, ref)
        if getattr(info, "run_id", None):
            from lineage.cli.runs import render_run

            render_run(info, fmt)
        else:
            _render_show(info, fmt)

    @app.command()
    def diff(
        a: Optional[str] = typer.Argument(None, help="Snapshot, or a path (its working copy). "
                                          "Alone: compared with the working copy."),
        b: Optional[str] = typer.Argument(None, help="Snapshot, or a path (its working copy)."),
        rows: bool = typer.Option(False, "--rows", help="Also count rows added, removed and unchanged (by fingerprint)."),
        as_json: bool = JSON,
    ) -> None:
        """Files added, removed or changed (and rows, with --rows), as git diffs: no argument,
        every dataset's last snapshot to the workspace; A, A to the workspace; A B, A to B."""
        from lineage import snapshots as snap

        render = _render_diff
        one, every = snap.diff, snap.diff_workspace
        if rows:
            from lineage.cli import tabular as tab_cli
            from lineage.tabular import report

            render = tab_cli.render_row_diff(_render_diff)
            one, every = report.row_diff, report.row_diff_workspace
        with open_repo() as repo:
            result = {"diffs": every(repo)} if a is None else one(repo, a, b)
        if a is None:
            out.emit(result, as_json, lambda d: _render_diffs(d["diffs"], render))
        else:
            out.emit(result, as_json, render)

    @app.command()
    def checkout(
        ref: Optional[str] = typer.Argument(None, help="Snapshot to write out (default: every dataset "
                                            "at the snapshot lineage.lock names)."),
        dest: Optional[str] = typer.Argument(None, help="Destination (default: where it was snapshotted from)."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite local changes."),
        path: list[str] = typer.Option([], "--path", help="Only these files or folders of the snapshot."),
        old_path: list[str] = deprecated("-p", "--path", multiple=True),
        as_json: bool = JSON,
    ) -> None:
        """Write a snapshot's files, verified, without clobbering local changes."""
        from lineage import snapshots as snap

        path = path + old_path
        if ref is None:  # every dataset as lineage.lock names it (lineage.snapshots.lock)
            _checkout_locked(dest, path, force, as_json)
            return
        with open_repo() as repo, out.progress("checkout") as bar:
            result = snap.checkout(repo, ref, dest, force=force, paths=path or None, progress=bar)
        out.emit(result, as_json, _render_checkout)

    @app.command()
    def verify(
        remote: Optional[str] = typer.Option(None, "--remote", "-r", help="Check what is on this remote instead."),
        against: Optional[str] = typer.Option(None, "--against", metavar="REPORT",
                                              help="Check that nothing a report (lineage report) states has changed."),
        as_json: bool = JSON,
    ) -> None:
        """Rehash every object and pack, check the event log's hash links, that every derived
        table equals a replay of the log, and the stat cache. Exits 1 on problems."""
        from lineage.sync import verify as _verify

        if against is not None:
            from lineage.report import against as _against

            if remote is not None:
                raise typer.BadParameter("--against checks the local repository; drop --remote",
                                         param_hint="--against")
            with open_repo() as repo:
                result = _against.verify_against(repo, against)
            out.emit(result, as_json, _render_against)
            if not result.ok:
                raise typer.Exit(1)
            return
        with open_repo() as repo, out.progress("verify") as bar:
            if remote is not None:
                report = _verify.verify_remote(repo, remote, progress=bar)
            else:
                report = _verify.verify(repo, progress=bar)
        out.emit(report, as_json, _render_verify)
        if not report.ok:
            raise typer.Exit(1)

    @app.command()
    def rebuild(as_json: bool = JSON) -> None:
        """Recreate every projection table from the event log."""
        with open_repo() as repo:
            n = repo.graph.rebuild()
        out.emit({"events": n}, as_json, lambda d: out.print(f"Rebuilt the graph from {d['events']} events"))


# -- renderers --------------------------------------------------------------------

def _render_against(r: Any) -> None:
    for line in r.differences:
        out.print(f"[red]changed[/] {out.escape(line)}")
    later = f"; {r.unrelated_events} later unrelated event(s)" if r.unrelated_events else ""
    if r.ok:
        out.print(f"[green]unchanged[/] since the report of {out.escape(r.generated)}: {r.snapshots} snapshot(s) "
                  f"rehashed, log heads present, hash chain verified{later}")
    else:
        out.print(f"{len(r.differences)} difference(s) since the report of {out.escape(r.generated)}{later}")


def _git_text(git: dict[str, Any]) -> str:
    if not git or not git.get("commit"):
        return "no git commit"
    return f"commit {git['commit'][:10]}" + (" (dirty)" if git.get("dirty") else "")


def _not_stored(path: str | None) -> str:
    from lineage.snapshots.reference import is_url

    if path and is_url(path):
        return f" (by reference: {out.escape(path)}, bytes not copied)"
    return " (--no-store: bytes not kept)"


def _render_snapshot(r: Any) -> None:
    if r.unchanged:
        # objects the store had lost (a machine stop, a gc after --no-store) are stored again
        again = f"; stored {r.new_objects} missing object(s) again" if r.new_objects else ""
        out.print(f"[bold]{out.short(r.id)}[/] {out.escape(r.dataset or r.path)}@{r.version} unchanged "
                  f"({r.files} files, {out.human_size(r.bytes)}){again}")
        return
    out.print(
        f"[bold green]{out.short(r.id)}[/] {out.escape(r.dataset or r.path)}@{r.version}: {r.files} files, "
        f"{out.human_size(r.bytes)}; hashed {r.hashed_files}, stored {r.new_objects} new object(s)"
        f"{'' if r.stored else _not_stored(r.path)}; {_git_text(r.git)}"
    )


def _render_status(items: list[Any]) -> None:
    if not items:
        out.print("No tracked datasets. Run 'lineage snapshot PATH'.")
        return
    for s in items:
        colour = {"clean": "green", "changed": "yellow", "partial": "cyan", "missing": "red",
                  "untracked": "yellow", "reference": "blue"}[s.state]
        if s.state == "reference":
            out.print(f"[{colour}]{s.state:9}[/] {out.escape(s.dataset)} (by reference: {out.escape(s.path)})"
                      + (f" @{s.version} {out.short(s.snapshot)}" if s.snapshot else ""))
            continue
        out.print(f"[{colour}]{s.state:9}[/] {out.escape(s.dataset)} ({out.escape(s.path)})"
                  + (f" @{s.version} {out.short(s.snapshot)}" if s.snapshot else "")
                  + (" (external)" if s.external else "")
                  + (f"; partial: {len(s.not_fetched)} file{'' if len(s.not_fetched) == 1 else 's'} not fetched"
                     if s.not_fetched else ""))
        if s.behind:  # an older version checked out: compared with it, as git with HEAD
            out.print(f"    {out.escape(s.dataset)}: at {out.escape(s.dataset)}@{s.version} "
                      f"(latest is {out.escape(s.dataset)}@{s.latest_version})")
        for label, paths in (("modified", s.modified), ("removed", s.removed), ("??", s.added)):
            for p in paths[:20]:
                out.print(f"    {label:8} {out.escape(p)}")
            if len(paths) > 20:
                out.print(f"    ... and {len(paths) - 20} more {'new' if label == '??' else label}")
    partial = [s for s in items if s.not_fetched and not s.dirty]
    if partial:
        out.print(f"Run 'lineage pull {out.short(partial[0].snapshot)}' to fetch the rest.")
    # a snapshot of a partial pull would record the files not fetched as removed: those
    # edited after one are advised to fetch the rest first (status_fix: pull, then snapshot)
    for s in items:
        if s.not_fetched and s.dirty:
            edited = s.modified + s.added + s.removed
            out.print(f"{out.escape(s.dataset)}: {', '.join(out.escape(p) for p in edited[:5])}"
                      + (f" and {len(edited) - 5} more" if len(edited) > 5 else "")
                      + f" changed after a partial pull; fetch the {len(s.not_fetched)} file(s) not "
                      f"fetched with 'lineage pull {out.short(s.snapshot)} --path ...' before a snapshot.")
    changed = [s for s in items if s.dirty]
    if changed:
        from lineage.hooks.checks import status_fix  # the hook's fix, so both name every dataset

        out.print(f"Run '{out.escape(status_fix(changed) or '')}' to record the changes.")


def _status_listing(items: list[Any], fmt: str) -> None:
    """``status --format tsv|csv``: one row per dataset, with counts of changed paths."""
    cols = [out.Col(c) for c in ("dataset", "state", "path", "version", "snapshot", "modified", "removed",
                                 "added", "not_fetched", "latest_version", "latest_snapshot", "external")]
    out.listing(None, cols, [[s.dataset, s.state, s.path, s.version, s.snapshot, len(s.modified), len(s.removed),
                              len(s.added), len(s.not_fetched), s.latest_version, s.latest_snapshot, s.external]
                             for s in items], fmt)


def _render_checkout(r: Any) -> None:
    out.print(f"Checked out {out.short(r.id)} to {out.escape(r.dest)}: {len(r.written)} written, "
              f"{r.unchanged} already up to date"
              + (f", {len(r.removed)} removed (not in the snapshot)" if r.removed else "")
              + (f", {len(r.extra)} untracked file(s) left in place" if r.extra else ""))
    for p in r.extra[:20]:
        out.print(f"    untracked {out.escape(p)}")
    if len(r.extra) > 20:
        out.print(f"    ... and {len(r.extra) - 20} more untracked")
    if r.discarded:  # --force: every local change lost is named
        out.print(f"[yellow]Discarded {len(r.discarded)} local change(s) and untracked file(s) (--force):[/]")
        for p in r.discarded:
            out.print(f"    discarded {out.escape(p)}")


def _log_message(e: Any, table: bool) -> str | None:
    """The message, led on a terminal by where a by-reference snapshot's bytes live."""
    from lineage.snapshots.reference import is_url

    if not table or not e.path or not is_url(e.path):
        return e.message
    return f"by reference: {e.path}" + (f"; {e.message}" if e.message else "")


def _render_log(entries: list[Any], fmt: str = "table") -> None:
    cols = [out.Col("dataset"), out.Col("version", "fixed", justify="right", title="ver"), out.Col("snapshot", "id"),
            out.Col("time (UTC)", "fixed", keep=5, where="table"), out.Col("time", where="plain"),
            out.Col("user", keep=3), out.Col("files", "fixed", keep=2, justify="right"),
            out.Col("size", "fixed", keep=4, justify="right", where="table"), out.Col("bytes", where="plain"),
            out.Col("commit", "id", keep=1), out.Col("dirty", where="plain"), out.Col("message", min=20),
            out.Col("path", where="plain")]
    table = fmt == "table"
    rows = [[e.dataset, e.version, e.snapshot, e.time[:16].replace("T", " "), e.time,
             out.person(e.user) if table else e.user, e.files, out.human_size(e.bytes), e.bytes,
             (e.git_commit or "") + ("*" if table and e.git_dirty else ""), e.git_dirty,
             f"forget {e.dataset}" if e.kind == "forget" else _log_message(e, table), e.path]
            for e in entries]
    out.listing({"snapshots": entries}, cols, rows, fmt, empty="No snapshots yet.")


def _render_log_oneline(entries: list[Any]) -> None:
    """``git log --oneline``: short ID, kind, NAME@N, first line of the message."""
    for e in entries:
        if e.kind == "forget":  # lineage forget NAME, with the last snapshot it had
            out.print(out.escape(f"{out.short(e.snapshot, 7) if e.snapshot else '-' * 7} forget {e.dataset}"),
                      overflow="ignore", crop=False)
            continue
        what = f"{e.dataset}@{e.version}" if e.dataset else (e.path or "")
        first = (e.message or "").splitlines()[0] if e.message else ""
        out.print(out.escape(f"{out.short(e.snapshot, 7)} snapshot {what}" + (f" {first}" if first else "")),
                  overflow="ignore", crop=False)


def _render_show(info: Any, fmt: str = "table") -> None:
    """On a terminal, the snapshot and its records, then its files (200 at most); TSV and
    CSV list every file."""
    cols = [out.Col("path"), out.Col("size", "fixed", keep=5, justify="right", where="table"),
            out.Col("bytes", where="plain"), out.Col("digest", "id", keep=4),
            out.Col("x", "fixed", keep=3, where="table"), out.Col("executable", where="plain")]
    files = info.files if fmt != "table" else info.files[:200]
    rows = [[f["path"], out.human_size(f["size"]), f["size"], f["digest"], "x" if f["executable"] else "",
             bool(f["executable"])] for f in files]
    if fmt != "table":
        out.listing(info, cols, rows, fmt)
        return
    out.print(f"[bold]snapshot {info.id}[/] ({info.kind}, {info.file_count} files, "
              f"{out.human_size(info.bytes)}{'' if info.stored else ', bytes not all in the local store'})")
    for r in info.records:
        out.print(f"  recorded as {out.escape(r.dataset or '-')}@{r.version} from {_from_text(r.path)} "
                  + ("(external: outside the repository) " if getattr(r, "external", False) else "")
                  + f"by {out.escape(r.user or '?')} at {r.time[:19]}, "
                  f"{_git_text({'commit': r.git_commit, 'dirty': r.git_dirty})}")
    out.listing(info, cols, rows, fmt)
    if len(info.files) > 200:
        out.print(f"... and {len(info.files) - 200} more files (use --format tsv for all)")


def _from_text(path: str | None) -> str:
    from lineage.snapshots.reference import is_url

    if path and is_url(path):
        return f"{out.escape(path)} (by reference: its bytes live there)"
    return out.escape(path or "-")


def _side_text(sid: str, path: str | None) -> str:
    return f"workspace ({out.escape(path or '.')})" if path is not None else out.short(sid)


def _render_diff(d: Any) -> None:
    out.print(f"{_side_text(d.a, d.a_path)} -> {_side_text(d.b, d.b_path)}: {len(d.added)} added, "
              f"{len(d.removed)} removed, {len(d.modified)} changed, {d.unchanged} unchanged")
    for f in d.added[:50]:
        out.print(f"  [green]+ {out.escape(f['path'])}[/]")
    for f in d.removed[:50]:
        out.print(f"  [red]- {out.escape(f['path'])}[/]")
    for f in d.modified[:50]:
        out.print(f"  [yellow]~ {out.escape(f['path'])}[/]")


def _render_diffs(diffs: list[Any], render: Any) -> None:
    if not diffs:
        out.print("No differences: every tracked dataset matches its last snapshot.")
    for d in diffs:
        render(d)


def _render_verify(r: Any) -> None:
    for p in r.objects:
        where = ", ".join(p.files[:3]) + (" ..." if len(p.files) > 3 else "")
        out.print(f"[red]{p.problem}[/] object {out.short(p.digest)}"
                  + (f" in snapshot(s) {', '.join(out.short(s) for s in p.snapshots[:3])}" if p.snapshots else "")
                  + (f": {out.escape(where)}" if where else ""))
    for line in r.log:
        out.print(f"[red]event log:[/] {out.escape(line)}")
    for line in getattr(r, "packs", ()):
        out.print(f"[red]pack:[/] {out.escape(line)}")
    for t in getattr(r, "tables", ()):
        key = ""
        if t.first_difference:
            key = "; first difference at " + ", ".join(f"{k}={v}" for k, v in t.first_difference.items())
        out.print(f"[red]table {out.escape(t.table)}:[/] {out.escape(t.detail + key)}")
    if getattr(r, "tables", None):
        if r.log:
            out.print("The event log itself was altered: restore .lineage/lineage.db from a backup, "
                      "or clone again and pull; 'lineage rebuild' would replay the altered log.")
        elif any(t.problem == "schema" for t in r.tables):
            out.print("The database schema was altered: restore .lineage/lineage.db from a backup, "
                      "or clone again and pull.")
        else:
            out.print("The derived tables were edited by hand: run 'lineage rebuild' to recreate "
                      "them from the event log.")
    for c in getattr(r, "stat_cache", ()):
        out.print(f"[red]stat cache:[/] {out.escape(c.path)}: {out.escape(c.detail)}")
    for p in getattr(r, "references", ()):  # by-reference snapshots, re-hashed where they live
        out.print(f"[red]{p.problem}[/] {out.escape(p.url)} (by reference, snapshot {out.short(p.snapshot)}): "
                  f"{out.escape(p.detail)}")
    status = "[green]OK[/]" if r.ok else "[red]FAILED[/]"
    referenced = getattr(r, "reference_files_checked", 0)
    out.print(f"{status}: {r.objects_checked} objects ({out.human_size(r.bytes_checked)}) and "
              f"{r.events_checked} events checked"
              + (f"; {referenced} file(s) by reference re-hashed" if referenced else ""))


# -- lineage.lock in status and checkout ----------------------------------------------

def _checkout_locked(dest: Optional[str], path: list[str], force: bool, as_json: bool) -> None:
    from lineage.errors import UsageError
    from lineage.snapshots import lock

    if dest is not None or path:
        raise UsageError("a destination or --path needs a snapshot to check out; without one, "
                         "checkout restores every dataset lineage.lock names")
    with open_repo() as repo, out.progress("checkout") as bar:
        result = lock.checkout_all(repo, force=force, progress=bar)
    out.emit(result, as_json, _render_checkout_locked)


def _render_checkout_locked(r: Any) -> None:
    for d in r.datasets:
        out.print(f"{out.escape(d.dataset)} ({out.escape(d.path)}): {out.short(d.snapshot)}, "
                  f"{len(d.written)} written, {d.unchanged} already up to date"
                  + (f", {len(d.removed)} removed (not in the snapshot)" if d.removed else "")
                  + (f", {len(d.extra)} extra file(s) left in place" if d.extra else ""))
        for label, paths in (("removed", d.removed), ("discarded", d.discarded)):
            for p in paths[:20]:
                out.print(f"    {label} {out.escape(p)}")
            if len(paths) > 20:
                out.print(f"    ... and {len(paths) - 20} more {label}")
        if d.discarded:  # --force: every local change lost is named (above)
            out.print(f"    [yellow]discarded {len(d.discarded)} local change(s) and untracked "
                      "file(s) (--force)[/]")
    out.print(f"Checked out {len(r.datasets)} dataset(s) as lineage.lock names them"
              + (f"; not in lineage.lock, left as they are: {', '.join(out.escape(n) for n in r.not_locked)}"
                 if r.not_locked else ""))



def _lock_drift(repo: Any, result: list[Any]) -> Any:
    from lineage.snapshots.status import lock_drift

    return lock_drift(repo, result)


def _render_lock_drift(drift: Any) -> None:
    if drift is None:
        return
    for d in drift.datasets:
        why = {"missing": "is missing", "unavailable": "is locked to a snapshot not in this clone "
               "(run 'lineage pull')"}.get(d["state"], "is not the locked snapshot")
        out.print(f"[yellow]lineage.lock:[/] {out.escape(d['dataset'])} ({out.escape(d['path'])}) {why} "
                  f"{out.short(d['locked'])}")
    if drift.datasets:
        out.print("Run 'lineage checkout' to restore what lineage.lock names, or 'lineage snapshot PATH' "
                  "to lock what is there.")
    if drift.head in ("modified", "added", "deleted"):
        out.print(f"[yellow]lineage.lock[/] is {drift.head} since HEAD: commit it with the code "
                  "('git add lineage.lock').")
