"""The lock file command: ``lineage lock check`` and ``lineage lock write`` (lineage.lock)."""

from __future__ import annotations

from typing import Any

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def register(app: typer.Typer) -> None:
    lock_app = typer.Typer(help="lineage.lock: the snapshot each dataset is pinned to, committed with "
                                "the code.", no_args_is_help=True)
    app.add_typer(lock_app, name="lock")

    @lock_app.command("check")
    def lock_check(as_json: bool = JSON) -> None:
        """Does lineage.lock equal the event log (each dataset at its latest snapshot)?
        Exits 1 when it does not."""
        from lineage.snapshots import lock

        with open_repo() as repo:
            result = lock.check(repo)
        out.emit(result, as_json, _render_check)
        if not result.ok:
            raise typer.Exit(1)

    @lock_app.command("write")
    def lock_write(as_json: bool = JSON) -> None:
        """Regenerate lineage.lock from the event log."""
        from lineage.snapshots import lock

        with open_repo() as repo:
            result = lock.write(repo)
        out.emit(result, as_json, lambda r: out.print(
            f"{'Wrote' if r.changed else 'Unchanged:'} lineage.lock ({r.datasets} dataset(s))"))


def _render_check(r: Any) -> None:
    if not r.present:
        out.print("[red]no lineage.lock[/]: run 'lineage lock write'")
    for d in r.differences:
        name = out.escape(d.dataset)
        if d.lock is None:
            out.print(f"  [red]not locked[/] {name}: the log has {out.short(d.log.snapshot)} ({out.escape(d.log.path)})")
        elif d.log is None:
            out.print(f"  [red]not tracked[/] {name}: lineage.lock names {out.short(d.lock.snapshot)}")
        else:
            out.print(f"  [yellow]differs[/] {name}: lineage.lock {out.short(d.lock.snapshot)} "
                      f"({out.escape(d.lock.path)}), the log {out.short(d.log.snapshot)} ({out.escape(d.log.path)})")
    if r.ok:
        out.print("[green]OK[/]: lineage.lock matches the event log")
    elif r.present:
        out.print("lineage.lock differs from the event log: 'lineage lock write' regenerates it "
                  "(after 'git checkout' of an older commit, 'lineage checkout' restores its data instead)")
