"""Core commands: init, snapshot, status, log, show, diff, checkout, verify, rebuild."""

from __future__ import annotations

from typing import Any, Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo

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
        path: str = typer.Argument(..., help="File or folder to snapshot."),
        name: Optional[str] = typer.Option(None, "--name", "-n", help="Dataset name (default: the path)."),
        message: Optional[str] = typer.Option(None, "--message", "-m", help="A note kept with the snapshot."),
        label_column: Optional[str] = typer.Option(None, "--label-column", help="Declare the label column."),
        group_column: Optional[str] = typer.Option(None, "--group-column", help="Declare the group key column (e.g. patient_id)."),
        time_column: Optional[str] = typer.Option(None, "--time-column", help="Declare the time column."),
        text_column: Optional[str] = typer.Option(None, "--text-column", help="Declare a free-text column (near-duplicate checks)."),
        no_store: bool = typer.Option(False, "--no-store", help="Record digests without keeping the bytes."),
        as_json: bool = JSON,
    ) -> None:
        """Snapshot a file or folder: hash, store, and record it in the lineage graph."""
        from lineage import snapshots as snap

        with open_repo() as repo, out.progress("snapshot") as bar:
            result = snap.create(repo, path, name=name, message=message, label_column=label_column,
                                 group_column=group_column, time_column=time_column,
                                 text_column=text_column, store=not no_store, progress=bar)
        out.emit(result, as_json, _render_snapshot)
        for warning in result.warnings:
            out.warning(warning)

    @app.command()
    def status(
        target: Optional[str] = typer.Argument(None, help="Dataset name or path (default: all)."),
        exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when anything changed."),
        as_json: bool = JSON,
    ) -> None:
        """What changed since the last snapshot of each tracked dataset."""
        from lineage import snapshots as snap

        with open_repo() as repo:
            result = snap.status(repo, target)
        out.emit({"datasets": result}, as_json, lambda d: _render_status(d["datasets"]))
        if exit_code and any(s.state != "clean" for s in result):
            raise typer.Exit(1)

    @app.command()
    def log(
        name: Optional[str] = typer.Argument(None, help="Dataset name (default: every snapshot)."),
        list_runs: bool = typer.Option(False, "--runs", help="List runs instead (those that read or wrote NAME)."),
        as_json: bool = JSON,
    ) -> None:
        """A dataset's history of snapshots (or with --runs, the runs), newest first."""
        from lineage import snapshots as snap

        if list_runs:
            from lineage import runs
            from lineage.cli.runs import render_runs

            with open_repo() as repo:
                items = runs.list_runs(repo, name)
            out.emit({"runs": items}, as_json, lambda d: render_runs(d["runs"]))
            return
        with open_repo() as repo:
            entries = snap.log(repo, name)
        out.emit({"snapshots": entries}, as_json, lambda d: _render_log(d["snapshots"]))

    @app.command()
    def show(
        ref: str = typer.Argument(..., help="Snapshot ID, prefix, NAME, NAME@N, NAME@latest, or a run ID."),
        schema: bool = typer.Option(False, "--schema", help="Columns and row counts of the tabular files."),
        profile: bool = typer.Option(False, "--profile", help="Column profiles of the tabular files (implies --schema)."),
        as_json: bool = JSON,
    ) -> None:
        """A snapshot's files, sizes and the commits it was recorded at (or a run's record)."""
        from lineage.runs import provenance

        if schema or profile:
            from lineage.cli import tabular as tab_cli
            from lineage.tabular import describe

            with open_repo() as repo:
                described = describe(repo, ref, profile=profile)
            out.emit(described, as_json, tab_cli.render_profile if profile else tab_cli.render_schema)
            return
        with open_repo() as repo:
            info = provenance.describe(repo, ref)
        if getattr(info, "run_id", None):
            from lineage.cli.runs import render_run

            out.emit(info, as_json, render_run)
        else:
            out.emit(info, as_json, _render_show)

    @app.command()
    def diff(
        a: str = typer.Argument(..., help="Older snapshot."),
        b: str = typer.Argument(..., help="Newer snapshot."),
        rows: bool = typer.Option(False, "--rows", help="Also count rows added, removed and unchanged (by fingerprint)."),
        as_json: bool = JSON,
    ) -> None:
        """Files added, removed or changed between two snapshots (and rows, with --rows)."""
        from lineage import snapshots as snap

        if rows:
            from lineage.cli import tabular as tab_cli
            from lineage.tabular import row_diff

            with open_repo() as repo:
                with_rows = row_diff(repo, a, b)
            out.emit(with_rows, as_json, tab_cli.render_row_diff(_render_diff))
            return
        with open_repo() as repo:
            result = snap.diff(repo, a, b)
        out.emit(result, as_json, _render_diff)

    @app.command()
    def checkout(
        ref: str = typer.Argument(..., help="Snapshot to write out."),
        dest: Optional[str] = typer.Argument(None, help="Destination (default: where it was snapshotted from)."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite local changes."),
        path: list[str] = typer.Option([], "--path", "-p", help="Only these files or folders of the snapshot."),
        as_json: bool = JSON,
    ) -> None:
        """Write a snapshot's files, verified, without clobbering local changes."""
        from lineage import snapshots as snap

        with open_repo() as repo, out.progress("checkout") as bar:
            result = snap.checkout(repo, ref, dest, force=force, paths=path or None, progress=bar)
        out.emit(result, as_json, lambda r: out.print(
            f"Checked out {out.short(r.id)} to {out.escape(r.dest)}: {len(r.written)} written, "
            f"{r.unchanged} already up to date"
            + (f", {len(r.extra)} extra file(s) left in place" if r.extra else "")))

    @app.command()
    def verify(
        remote: Optional[str] = typer.Option(None, "--remote", "-r", help="Check what is on this remote instead."),
        as_json: bool = JSON,
    ) -> None:
        """Rehash every object and pack, check the event log's hash links, that every derived
        table equals a replay of the log, and the stat cache. Exits 1 on problems."""
        from lineage.sync import verify as _verify

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

def _git_text(git: dict[str, Any]) -> str:
    if not git or not git.get("commit"):
        return "no git commit"
    return f"commit {git['commit'][:10]}" + (" (dirty)" if git.get("dirty") else "")


def _render_snapshot(r: Any) -> None:
    if r.unchanged:
        out.print(f"[bold]{out.short(r.id)}[/] {out.escape(r.dataset or r.path)}@{r.version} unchanged "
                  f"({r.files} files, {out.human_size(r.bytes)})")
        return
    out.print(
        f"[bold green]{out.short(r.id)}[/] {out.escape(r.dataset or r.path)}@{r.version}: {r.files} files, "
        f"{out.human_size(r.bytes)}; hashed {r.hashed_files}, stored {r.new_objects} new object(s)"
        f"{'' if r.stored else ' (--no-store: bytes not kept)'}; {_git_text(r.git)}"
    )


def _render_status(items: list[Any]) -> None:
    if not items:
        out.print("No tracked datasets. Run 'lineage snapshot PATH'.")
        return
    for s in items:
        colour = {"clean": "green", "changed": "yellow", "missing": "red", "untracked": "yellow"}[s.state]
        out.print(f"[{colour}]{s.state:9}[/] {out.escape(s.dataset)} ({out.escape(s.path)})"
                  + (f" @{s.version} {out.short(s.snapshot)}" if s.snapshot else ""))
        for label, paths in (("added", s.added), ("removed", s.removed), ("modified", s.modified)):
            for p in paths[:20]:
                out.print(f"    {label:8} {out.escape(p)}")
            if len(paths) > 20:
                out.print(f"    ... and {len(paths) - 20} more {label}")
    changed = [s for s in items if s.state != "clean"]
    if changed:
        out.print(f"Run 'lineage snapshot {out.escape(changed[0].path)}' to record the changes.")


def _render_log(entries: list[Any]) -> None:
    if not entries:
        out.print("No snapshots yet.")
        return
    t = out.table("dataset", "ver", "snapshot", "time (UTC)", "user", "files", "size", "commit", "message")
    for e in entries:
        commit = (e.git_commit or "")[:8] + ("*" if e.git_dirty else "")
        t.add_row(out.escape(e.dataset or ""), str(e.version or ""), out.short(e.snapshot, 10),
                  e.time[:16].replace("T", " "), out.escape(out.person(e.user)), str(e.files),
                  out.human_size(e.bytes), commit, out.escape(e.message or ""))
    out.print(t)


def _render_show(info: Any) -> None:
    out.print(f"[bold]snapshot {info.id}[/] ({info.kind}, {info.file_count} files, "
              f"{out.human_size(info.bytes)}{'' if info.stored else ', bytes not all in the local store'})")
    for r in info.records:
        out.print(f"  recorded as {out.escape(r.dataset or '-')}@{r.version} from {out.escape(r.path or '-')} "
                  f"by {out.escape(r.user or '?')} at {r.time[:19]}, "
                  f"{_git_text({'commit': r.git_commit, 'dirty': r.git_dirty})}")
    t = out.table("path", "size", "digest", "x")
    for f in info.files[:200]:
        t.add_row(out.escape(f["path"]), out.human_size(f["size"]), out.short(f["digest"]),
                  "x" if f["executable"] else "")
    out.print(t)
    if len(info.files) > 200:
        out.print(f"... and {len(info.files) - 200} more files (use --json for all)")


def _render_diff(d: Any) -> None:
    out.print(f"{out.short(d.a)} -> {out.short(d.b)}: {len(d.added)} added, {len(d.removed)} removed, "
              f"{len(d.modified)} changed, {d.unchanged} unchanged")
    for f in d.added[:50]:
        out.print(f"  [green]+ {out.escape(f['path'])}[/]")
    for f in d.removed[:50]:
        out.print(f"  [red]- {out.escape(f['path'])}[/]")
    for f in d.modified[:50]:
        out.print(f"  [yellow]~ {out.escape(f['path'])}[/]")


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
    status = "[green]OK[/]" if r.ok else "[red]FAILED[/]"
    out.print(f"{status}: {r.objects_checked} objects ({out.human_size(r.bytes_checked)}) and "
              f"{r.events_checked} events checked")
