"""Interoperability commands: export openlineage|prov, import dvc."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo
from lineage.cli.flags import deprecated
from lineage.errors import UsageError
from lineage.interop import write_text_atomic

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")

export_app = typer.Typer(help="Export lineage to other tools (OpenLineage, W3C PROV).",
                         no_args_is_help=True)
import_app = typer.Typer(help="Import lineage recorded by other tools (DVC).", no_args_is_help=True)


def _runs_or_all(run_ids: list[str], all_runs: bool) -> list[str] | None:
    if all_runs and run_ids:
        raise UsageError("give run IDs or --all, not both")
    if not all_runs and not run_ids:
        raise UsageError("give a run ID (or several), or --all")
    return None if all_runs else run_ids


@export_app.command("openlineage")
def export_openlineage(
    run_ids: list[str] = typer.Argument(None, help="Run IDs or unique prefixes.", show_default=False),
    all_runs: bool = typer.Option(False, "--all", help="Every recorded run."),
    output_file: Optional[str] = typer.Option(None, "--output", "-o", help="Write JSON lines to this file."),
    url: Optional[str] = typer.Option(None, "--url", help="POST the events to this OpenLineage endpoint (e.g. http://localhost:5000)."),
    endpoint: str = typer.Option("api/v1/lineage", "--endpoint", help="Path of the lineage API under --url."),
    namespace: Optional[str] = typer.Option(None, "--namespace", help="Job namespace (default: the workspace folder name)."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds to wait for each HTTP request."),
    as_json: bool = JSON,
) -> None:
    """OpenLineage RunEvents (START, then COMPLETE/FAIL/ABORT) of runs, as JSON lines or over HTTP."""
    from lineage.interop import openlineage

    refs = _runs_or_all(run_ids or [], all_runs)
    if url and output_file:
        raise UsageError("give --url or --output, not both")
    with open_repo() as repo:
        events = openlineage.export(repo, refs, namespace=namespace)
    if url:
        with out.progress("post", unit="events") as bar:
            result = openlineage.post(events, url, endpoint=endpoint, timeout=timeout, progress=bar)
        out.emit(result, as_json, lambda r: out.print(
            f"Posted {r.events} OpenLineage event(s) for {len(r.run_ids)} run(s) to {out.escape(r.url)}"))
        return
    lines = "".join(json.dumps(ev, sort_keys=True, ensure_ascii=False) + "\n" for ev in events)
    if output_file:
        write_text_atomic(output_file, lines)
        summary = {"file": output_file, "events": len(events),
                   "run_ids": list(dict.fromkeys(ev["run"]["runId"] for ev in events))}
        out.emit(summary, as_json, lambda d: out.print(
            f"Wrote {d['events']} OpenLineage event(s) for {len(d['run_ids'])} run(s) to {out.escape(d['file'])}"))
        return
    if as_json:
        out.emit_json(events)
    else:
        _stdout(lines)


def _stdout(text: str) -> None:
    """Exported documents go to stdout exactly as written (no rich markup or wrapping)."""
    import sys

    sys.stdout.write(text)
    sys.stdout.flush()


@export_app.command("prov")
def export_prov(
    run_ids: list[str] = typer.Argument(None, help="Run IDs or unique prefixes.", show_default=False),
    all_runs: bool = typer.Option(False, "--all", help="Every run, snapshot, dataset and user."),
    fmt: str = typer.Option("json", "--format", "-F", help="json (PROV-JSON), provn, xml or rdf."),
    old_fmt: Optional[str] = deprecated("-f", "--format"),
    output_file: Optional[str] = typer.Option(None, "--output", "-o", help="Write the document to this file."),
    as_json: bool = JSON,
) -> None:
    """A W3C PROV document of runs (activities), snapshots (entities) and users (agents)."""
    from lineage.interop import prov

    fmt = old_fmt or fmt
    refs = _runs_or_all(run_ids or [], all_runs)
    if as_json and fmt != "json":
        raise UsageError("--json prints PROV-JSON; leave out --format or use --format json")
    with open_repo() as repo:
        text = prov.export(repo, refs, format=fmt)
    if not text.endswith("\n"):
        text += "\n"
    if output_file:
        write_text_atomic(output_file, text)
        summary = {"file": output_file, "format": fmt, "bytes": len(text.encode())}
        out.emit(summary, as_json, lambda d: out.print(
            f"Wrote the PROV document ({d['format']}) to {out.escape(d['file'])}"))
        return
    _stdout(text)


@import_app.command("dvc")
def import_dvc(
    path: Optional[str] = typer.Argument(None, help="The DVC repository (default: the one holding the current folder)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when a tracked path is missing or changed."),
    as_json: bool = JSON,
) -> None:
    """Register DVC-tracked outputs as snapshots (md5 kept as an alias) and dvc.lock stages as runs."""
    from lineage.interop import dvc

    with open_repo() as repo, out.progress("import", unit="outputs") as bar:
        result = dvc.import_repo(repo, path, progress=bar)
    out.emit(result, as_json, _render_dvc)
    if not as_json:
        for p in result.problems:
            out.warning(f"{p.path} ({p.source}): {p.status}: {p.message}")
    if strict and result.problems:
        raise typer.Exit(1)


def _render_dvc(r: Any) -> None:
    s = r.to_dict()["summary"]
    out.print(f"DVC repository {out.escape(r.dvc_root)}: {len(r.dvc_files)} .dvc file(s), "
              f"{len(r.lock_files)} dvc.lock file(s)")
    colours = {"imported": "green", "unchanged": "dim", "missing": "red", "modified": "yellow",
               "no-hash": "yellow"}
    if r.outputs:
        out.print_table([out.Col("status", "fixed", colours=colours), out.Col("path"), out.Col("source", keep=5),
                         out.Col("md5", "id", keep=4), out.Col("snapshot", "id")],
                        [[o.status, o.path, o.source, o.md5, o.snapshot_id] for o in r.outputs])
    for st in r.stages:
        out.print(f"stage {out.escape(st.name)} ({st.kind}): run {st.run_id} {st.status}"
                  f"{' (recorded now)' if st.recorded and st.status == 'incomplete' else ''}, "
                  f"{len(st.inputs)} input(s), {len(st.outputs)} output(s)"
                  + (f"; not in the workspace: {out.escape(', '.join(st.missing))}" if st.missing else ""))
    out.print(f"{s['imported']} imported, {s['unchanged']} already known, {s['missing']} missing, "
              f"{s['modified']} changed since DVC recorded them; {s['runs_recorded']} run(s) recorded")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")
