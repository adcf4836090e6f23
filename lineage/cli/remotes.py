"""Remote commands: remote add/list/remove, push, fetch, pull, gc.

The library modules are imported inside each command: ``lineage --help`` loads every
command module, and should not pay for the transfer code.
"""

from __future__ import annotations

from typing import Any, Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo
from lineage.cli.flags import deprecated

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
REMOTE = typer.Option(None, "--remote", "-r", help="Remote name (default: the default remote).")


def register(app: typer.Typer) -> None:
    remote_app = typer.Typer(help="Configure remotes (local folders, s3://bucket/prefix).",
                             no_args_is_help=True)
    app.add_typer(remote_app, name="remote")

    @remote_app.command("add")
    def remote_add(
        name: str = typer.Argument(..., help="Name of the remote, e.g. origin."),
        url: str = typer.Argument(..., help="A folder, file://PATH or s3://BUCKET/PREFIX."),
        default: bool = typer.Option(False, "--default", "-d", help="Make it the default remote."),
        endpoint_url: Optional[str] = typer.Option(None, "--endpoint-url", help="S3-compatible endpoint (MinIO, SeaweedFS, Ceph, R2)."),
        profile: Optional[str] = typer.Option(None, "--profile", help="AWS profile for credentials."),
        region: Optional[str] = typer.Option(None, "--region", help="AWS region."),
        as_json: bool = JSON,
    ) -> None:
        """Add a remote. Credentials never go in the config: use the environment or a profile."""
        from lineage.sync import remotes

        with open_repo() as repo:
            r = remotes.add(repo, name, url, default=default, endpoint_url=endpoint_url,
                            profile=profile, region=region)
        out.emit({"remotes": [r]}, as_json, lambda d: out.print(
            f"Added remote {out.escape(r.name)} -> {out.escape(r.url)}" + (" (default)" if r.default else "")))

    @remote_app.command("list")
    def remote_list(fmt: Optional[str] = out.format_option(),
                    as_json: bool = typer.Option(False, "--json", help="Same as --format json.")) -> None:
        """List the configured remotes."""
        from lineage.sync import remotes

        fmt = out.resolve_format(fmt, as_json)
        with open_repo() as repo:
            items = remotes.list_remotes(repo)
        _render_remotes(items, fmt)

    @remote_app.command("remove")
    def remote_remove(name: str = typer.Argument(..., help="Remote to forget."), as_json: bool = JSON) -> None:
        """Forget a remote (the data on it is left alone)."""
        from lineage.sync import remotes

        with open_repo() as repo:
            r = remotes.remove(repo, name)
        out.emit({"remotes": [r]}, as_json, lambda d: out.print(f"Removed remote {out.escape(r.name)}"))

    @app.command()
    def push(
        ids: list[str] = typer.Argument(None, help="Snapshots to push (default: everything in the log)."),
        remote: Optional[str] = REMOTE,
        as_json: bool = JSON,
    ) -> None:
        """Send the objects and events the remote lacks (small objects in packs)."""
        from lineage.sync.push import push as push_

        with open_repo() as repo, out.transfer_bar("push") as bar:
            r = push_(repo, ids or None, remote=remote, progress=bar)
        out.emit(r, as_json, _render_push)

    @app.command()
    def fetch(
        ids: list[str] = typer.Argument(None, help="Snapshots to fetch (default: everything in the log)."),
        remote: Optional[str] = REMOTE,
        path: list[str] = typer.Option([], "--path", help="Only these files or folders of the snapshot."),
        old_path: list[str] = deprecated("-p", "--path", multiple=True),
        as_json: bool = JSON,
    ) -> None:
        """Merge the remote's events and download objects into the local store, verified."""
        from lineage.sync.fetch import fetch as fetch_

        with open_repo() as repo, out.transfer_bar("fetch") as bar:
            r = fetch_(repo, ids or None, remote=remote, paths=(path + old_path) or None, progress=bar)
        out.emit(r, as_json, _render_fetch)

    @app.command()
    def pull(
        ids: list[str] = typer.Argument(None, help="Snapshots to pull and check out (default: all)."),
        remote: Optional[str] = REMOTE,
        path: list[str] = typer.Option([], "--path", help="Only these files or folders of the snapshot."),
        old_path: list[str] = deprecated("-p", "--path", multiple=True),
        dest: Optional[str] = typer.Option(None, "--dest", help="Check out here instead of the recorded path."),
        force: bool = typer.Option(False, "--force", "-f", help="Overwrite local changes."),
        as_json: bool = JSON,
    ) -> None:
        """Fetch, then check out the snapshots named (or every tracked dataset that is missing)."""
        from lineage.sync.fetch import pull as pull_

        with open_repo() as repo, out.transfer_bar("pull") as bar:
            r = pull_(repo, ids or None, remote=remote, paths=(path + old_path) or None, dest=dest,
                              force=force, progress=bar)
        out.emit(r, as_json, _render_fetch)
        for warning in r.warnings:
            out.warning(warning)

    @app.command()
    def gc(
        dry_run: bool = typer.Option(False, "--dry-run", help="List what would be removed; remove nothing."),
        old_dry_run: bool = deprecated("-n", "--dry-run", flag=True),
        remote: Optional[str] = typer.Option(None, "--remote", "-r", help="Collect on this remote instead of locally."),
        grace: float = typer.Option(3600.0, "--grace", metavar="SECONDS", help="On a remote, keep unreferenced data younger than this (a push may be under way)."),
        fmt: Optional[str] = out.format_option(),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """Remove objects no snapshot (or run) in the log references."""
        from lineage.sync import gc as _gc

        fmt = out.resolve_format(fmt, as_json, piped="table")  # a summary: its text when piped
        with open_repo() as repo:
            r = _gc.collect(repo, dry_run=dry_run or old_dry_run, remote=remote, grace=grace)
        if fmt in ("tsv", "csv"):  # what was (or would be) removed, every item
            out.listing(r, [out.Col("where"), out.Col("digest"), out.Col("bytes")],
                        [[i.where, i.digest, i.size] for i in r.removed], fmt)
        else:
            out.emit(r, fmt == "json", _render_gc)


def _render_remotes(items: list[Any], fmt: str = "table") -> None:
    cols = [out.Col("name", "fixed"), out.Col("url"), out.Col("default", "fixed", keep=5),
            out.Col("options", keep=4)]
    rows = []
    for r in items:
        shown = r.to_dict()  # credentials masked, as in --json
        rows.append([r.name, shown["url"], r.default if fmt != "table" else ("yes" if r.default else ""),
                     ", ".join(f"{k}={v}" for k, v in shown["options"].items())])
    out.listing({"remotes": items}, cols, rows, fmt,
                empty="No remotes. Add one with 'lineage remote add NAME URL --default'.")


def _render_push(r: Any) -> None:
    if not r.objects_sent and not r.events_sent:
        out.print(f"Everything is already on {out.escape(r.remote)} ({r.objects_present} objects)")
    else:
        out.print(f"Pushed {r.objects_sent} object(s) ({out.human_size(r.bytes_sent)}, {r.packs_sent} pack(s)) "
                  f"and {r.events_sent} event(s) to {out.escape(r.remote)}; {r.objects_present} were there already")
    if r.not_in_local_store:
        out.warning(f"{r.not_in_local_store} referenced object(s) are not in the local store and were not pushed")


def _render_fetch(r: Any) -> None:
    out.print(f"Received {r.objects_received} object(s) ({out.human_size(r.bytes_received)}) and "
              f"{r.events_received} new event(s) from {out.escape(r.remote)}; {r.objects_present} already local")
    for c in r.checked_out:
        out.print(f"Checked out {out.short(c['id'])} to {out.escape(c['dest'])}: {c['written']} written, "
                  f"{c['unchanged']} up to date")
    if r.missing_on_remote:
        out.warning(f"{len(r.missing_on_remote)} object(s) are on neither this machine nor the remote "
                    f"(e.g. {out.short(r.missing_on_remote[0])})")


def _render_gc(r: Any) -> None:
    verb = "Would remove" if r.dry_run else "Removed"
    for item in r.removed[:200]:
        out.print(f"  {verb.lower()} {item.where} {out.short(item.digest)} ({out.human_size(item.size)})")
    if len(r.removed) > 200:
        out.print(f"  ... and {len(r.removed) - 200} more (use --json for all)")
    out.print(f"{verb} {len(r.removed)} object(s), {out.human_size(r.removed_bytes)} from {out.escape(r.target)}; "
              f"kept {r.kept}" + (f"; rewrote {r.packs_rewritten} pack(s)" if r.packs_rewritten else ""))
