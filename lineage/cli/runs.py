"""Run commands: ``run`` (wrapper and start/input/output/param/metric/finish),
``provenance``, ``used-by`` and ``query``."""

from __future__ import annotations

import sys
from typing import Any, Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo
from lineage.cli.flags import deprecated

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def _group_class():
    from typer.core import TyperGroup

    class RunGroup(TyperGroup):
        """``lineage run`` is a command (the wrapper) and a group (start, finish, ...).

        The first word decides: a subcommand name runs the subcommand; anything else
        (options, ``--``, a program) is the wrapped command line.
        """

        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            if not args or args[0] in self.commands or args[0] in ("-h", "--help"):
                return super().parse_args(ctx, args)
            # parse as a plain command (click's Command, vendored or not): no subcommand name
            command = next(c for c in type(self).__mro__ if c.__name__ == "Command")
            rest = command.parse_args(self, ctx, args)
            ctx._protected_args = []
            return rest

    return RunGroup


def _run_app() -> typer.Typer:
    run_app = typer.Typer(
        cls=_group_class(), invoke_without_command=True,
        help="Record a run: wrap a command, or start/finish one for an orchestrator.",
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @run_app.callback()
    def wrapper(
        ctx: typer.Context,
        kind: Optional[str] = typer.Option(None, "--kind", "-k", help="split, fit, transform, train, tune, evaluate or other."),
        inputs: list[str] = typer.Option([], "--input", "-i", help="ROLE=PATH or ROLE=SNAPSHOT (ID, prefix, NAME, NAME@N); repeat."),
        outputs: list[str] = typer.Option([], "--output", "-o", help="A path the command writes; snapshotted after it succeeds. Repeat."),
        params: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE (numbers and true/false are typed). Repeat."),
        run_id: Optional[str] = typer.Option(None, "--id", help="Run ID (default: $LINEAGE_RUN_ID when new, else a UUIDv7)."),
        as_json: bool = typer.Option(False, "--json", help="Print the run record as JSON on stdout (the command's stdout goes to stderr)."),
    ) -> None:
        """Run COMMAND as a recorded run: lineage run --kind train --input train=data/train -- python train.py"""
        if ctx.invoked_subcommand is not None:
            return
        from lineage import runs
        from lineage.errors import UsageError

        argv = list(ctx.args)
        if kind is None and not argv and not (inputs or outputs or params or run_id):
            out.print(ctx.get_help(), markup=False)  # bare 'lineage run': help, as for other groups
            return
        if kind is None:
            raise UsageError("lineage run needs --kind (split, fit, transform, train, tune, evaluate or other)")
        pairs = [runs.parse_input(i) for i in inputs]
        values = _params(params)

        def started(rid: str) -> None:
            out.note(f"[dim]lineage: run {rid} ({kind}) started[/]")

        with open_repo() as repo:
            result = runs.run_command(repo, argv, kind=kind, inputs=pairs, outputs=outputs, params=values,
                                      run_id=run_id, on_start=started,
                                      stdout=_stderr_fd() if as_json else None)
        if as_json:
            out.emit_json(result)
        else:
            _render_finished(result.record)
        if result.missing_outputs:
            out.error(f"the command succeeded but did not write {', '.join(result.missing_outputs)}; "
                      "the run is recorded as failed")
        raise typer.Exit(result.exit_code)

    @run_app.command("start")
    def start(
        kind: str = typer.Option(..., "--kind", "-k", help="split, fit, transform, train, tune, evaluate or other."),
        inputs: list[str] = typer.Option([], "--input", "-i", help="ROLE=PATH or ROLE=SNAPSHOT; repeat."),
        params: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE; repeat."),
        run_id: Optional[str] = typer.Option(None, "--id", help="Run ID (default: $LINEAGE_RUN_ID when new, else a UUIDv7)."),
        command: Optional[list[str]] = typer.Argument(None, help="The command being run, recorded as is (after --)."),
        as_json: bool = JSON,
    ) -> None:
        """Record the start of a run and print its ID (for orchestrators)."""
        from lineage import runs

        with open_repo() as repo:
            rid = runs.start(repo, kind, run_id=run_id, command=command or None, params=_params(params),
                             inputs=[runs.parse_input(i) for i in inputs])
            record = runs.get(repo, rid)
        out.emit(record, as_json, lambda r: out.print(r.run_id))

    @run_app.command("input")
    def add_input(
        run: str = typer.Argument(..., help="Run ID or prefix."),
        inputs: list[str] = typer.Argument(..., help="ROLE=PATH or ROLE=SNAPSHOT; several allowed."),
        as_json: bool = JSON,
    ) -> None:
        """Record inputs of a running run (paths are snapshotted now)."""
        from lineage import runs

        with open_repo() as repo:
            rid = runs.resolve(repo, run)
            added = [runs.add_input(repo, rid, value, role) for role, value in map(runs.parse_input, inputs)]
        out.emit({"run_id": rid, "inputs": added}, as_json, lambda d: [
            out.print(f"{out.short(i.snapshot_id)} {i.role:10} {out.escape(i.dataset or i.path or '')}")
            for i in d["inputs"]])

    @run_app.command("output")
    def add_output(
        run: str = typer.Argument(..., help="Run ID or prefix."),
        paths: list[str] = typer.Argument(..., help="Paths the run wrote; snapshotted now."),
        as_json: bool = JSON,
    ) -> None:
        """Snapshot paths and record them as outputs of a running run."""
        from lineage import runs

        with open_repo() as repo:
            rid = runs.resolve(repo, run)
            added = [runs.add_output(repo, rid, p) for p in paths]
        out.emit({"run_id": rid, "outputs": added}, as_json, lambda d: [
            out.print(f"{out.short(o.snapshot_id)} {out.escape(o.dataset or o.path or '')}") for o in d["outputs"]])

    @run_app.command("param")
    def add_param(
        run: str = typer.Argument(..., help="Run ID or prefix."),
        params: list[str] = typer.Argument(..., help="KEY=VALUE; several allowed."),
        as_json: bool = JSON,
    ) -> None:
        """Record parameters of a running run."""
        from lineage import runs

        with open_repo() as repo:
            rid = runs.resolve(repo, run)
            recorded = runs.log_params(repo, rid, _params(params))
        out.emit({"run_id": rid, "params": recorded}, as_json, lambda d: [
            out.print(f"{out.escape(k)} = {out.escape(repr(v))}") for k, v in d["params"].items()])

    @run_app.command("metric")
    def add_metric(
        run: str = typer.Argument(..., help="Run ID or prefix."),
        name: str = typer.Argument(..., help="Metric name, e.g. accuracy."),
        value: str = typer.Argument(..., help="A finite number."),
        split: Optional[str] = typer.Option(None, "--split", "-s", help="train, validation, test or other."),
        step: Optional[int] = typer.Option(None, "--step", help="Step or epoch."),
        as_json: bool = JSON,
    ) -> None:
        """Record a metric of a running run, with the split it was computed on."""
        from lineage import runs

        number = _number(value)
        with open_repo() as repo:
            rid = runs.resolve(repo, run)
            metric = runs.log_metric(repo, rid, name, number, split=split, step=step)
        out.emit({"run_id": rid, "metrics": [metric]}, as_json, lambda d: out.print(
            f"{out.escape(metric.name)} = {metric.value:g}" + (f" on {metric.split}" if metric.split else "")))

    @run_app.command("finish")
    def finish(
        run: str = typer.Argument(..., help="Run ID or prefix."),
        status: Optional[str] = typer.Option(None, "--status", help="succeeded, failed or aborted (default: from --exit-code)."),
        exit_code: Optional[int] = typer.Option(None, "--exit-code", help="The command's exit code."),
        error: Optional[str] = typer.Option(None, "--error", help="A one-line reason for a failure."),
        as_json: bool = JSON,
    ) -> None:
        """Record the end of a run."""
        from lineage import runs

        with open_repo() as repo:
            record = runs.finish(repo, run, status=status, exit_code=exit_code, error=error)
        out.emit(record, as_json, _render_finished)

    return run_app


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream has no descriptor
        return 2


def _params(items: list[str]) -> dict[str, Any]:
    from lineage import runs

    values: dict[str, Any] = {}
    for item in items:
        key, value = runs.parse_assignment(item, "--param")
        values[key] = runs.parse_value(value)
    return values


def _number(text: str) -> float:
    from lineage.errors import UsageError

    try:
        return float(text)
    except ValueError:
        raise UsageError(f"metric value must be a number, not {text!r}") from None


def register(app: typer.Typer) -> None:
    app.add_typer(_run_app(), name="run")

    @app.command()
    def provenance(
        ref: str = typer.Argument(..., help="Snapshot (ID, prefix, NAME, NAME@N, path) or run ID."),
        fmt: str = typer.Option("text", "--format", "-F",
                                help="text, json, mermaid, dot, or tsv or csv (one row per edge)."),
        old_fmt: Optional[str] = deprecated("-f", "--format"),
        as_json: bool = JSON,
    ) -> None:
        """The full upstream tree of a model or snapshot: runs, inputs with roles, commits."""
        from lineage.runs import provenance as prov
        from lineage.errors import UsageError

        fmt = "json" if as_json else old_fmt or fmt
        if fmt not in ("text", "json", "mermaid", "dot", "tsv", "csv"):
            raise UsageError(f"unknown format {fmt!r}; use text, json, mermaid, dot, tsv or csv")
        with open_repo() as repo:
            result = prov.provenance(repo, ref)
        if fmt in ("tsv", "csv"):
            cols = [out.Col(c) for c in ("child", "child_type", "edge", "role", "parent", "parent_type",
                                         "parent_name")]

            def name(node_id: str) -> str:
                n = result.node(node_id)
                if n is None:
                    return ""
                if n.type == "snapshot":
                    return ", ".join(f"{d['dataset']}@{d['version']}" for d in n.attrs.get("datasets") or []) \
                        or n.attrs.get("path") or ""
                return n.attrs.get("kind") or ""

            def kind(node_id: str) -> str:
                n = result.node(node_id)
                return n.type if n else ""

            out.listing(result, cols, [[e.child, kind(e.child), e.type, e.role, e.parent, kind(e.parent),
                                        name(e.parent)] for e in result.edges], fmt)
        elif fmt == "mermaid":
            sys.stdout.write(prov.to_mermaid(result))
        elif fmt == "dot":
            sys.stdout.write(prov.to_dot(result))
        else:
            out.emit(result, fmt == "json", _render_provenance)

    @app.command("used-by")
    def used_by(
        ref: str = typer.Argument(..., help="Snapshot ID, prefix, NAME, NAME@N or tracked path."),
        downstream: bool = typer.Option(False, "--downstream", help="Also list runs that read anything derived from it."),
        fmt: Optional[str] = out.format_option(),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """Every run that read this snapshot, a copy of its content, or its dataset, by role."""
        from lineage.runs import provenance as prov

        fmt = out.resolve_format(fmt, as_json)
        with open_repo() as repo:
            result = prov.used_by(repo, ref, downstream=downstream)
        _render_used_by(result, fmt)

    @app.command()
    def query(
        sql: Optional[str] = typer.Argument(None, help="One SELECT statement (tables and views: docs/queries.md)."),
        params: list[str] = typer.Option([], "--param", "-p", help="A value bound to the next '?'; repeat."),
        limit: int = typer.Option(10_000, "--limit", "--max-count", "-n", help="At most this many rows (0: no limit)."),
        timeout: float = typer.Option(30.0, "--timeout", help="Stop the statement after this many seconds (0: never)."),
        show_schema: bool = typer.Option(False, "--schema", help="List the tables and views with their columns."),
        fmt: Optional[str] = out.format_option(),
        as_csv: bool = typer.Option(False, "--csv", help="Same as --format csv (as sqlite-utils)."),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """Read-only SQL over the lineage graph, for auditors; writes are refused."""
        from lineage.log import readonly

        if show_schema == (sql is not None):
            raise typer.BadParameter("give a SQL statement or --schema (one of them)", param_hint="SQL")
        fmt = out.resolve_format(fmt, as_json, csv=as_csv)
        with open_repo() as repo:
            if show_schema:
                _render_schema(readonly.schema(repo.db_path), fmt)
                return
            result = readonly.query(repo.db_path, sql, params, limit=limit, timeout=timeout)
        _render_query(result, fmt)
        if fmt != "table" and result.truncated:
            out.note(f"output cut at {limit} rows (--limit; 0 for no limit)")


# -- renderers ----------------------------------------------------------------------

def _git_text(git: dict[str, Any] | None) -> str:
    if not git or not git.get("commit"):
        return "no git commit"
    return f"commit {git['commit'][:10]}" + (" (dirty)" if git.get("dirty") else "")


_STATUS_COLOUR = {"succeeded": "green", "failed": "red", "aborted": "yellow", "running": "cyan"}


def _render_finished(r: Any) -> None:
    colour = _STATUS_COLOUR.get(r.status, "white")
    code = "" if r.exit_code is None else f", exit code {r.exit_code}"
    out.note(f"run [bold]{r.run_id}[/] ({r.kind}) [{colour}]{r.status}[/]{code}: "
             f"{len(r.inputs)} input(s), {len(r.outputs)} output(s); {_git_text(r.git)}"
             + (f" — {out.escape(r.error)}" if r.error else ""))


def _render_run(r: Any) -> None:
    import socket

    colour = _STATUS_COLOUR.get(r.status, "white")
    status = r.status
    if status == "running" and r.host and r.host != socket.gethostname():
        status += f" (on host {out.escape(r.host)})"  # only its own host can tell it died
    short = f" (short {r.short_id})" if r.short_id != r.run_id else ""
    out.print(f"[bold]run {r.run_id}[/]{short} ({r.kind}) [{colour}]{status}[/]"
              + ("" if r.exit_code is None else f", exit code {r.exit_code}"))
    if r.error:
        out.print(f"  error:    {out.escape(r.error)}")
    if r.command:
        out.print(f"  command:  {out.escape(' '.join(r.command))}")
    out.print(f"  by:       {out.escape(r.user or '?')} on {out.escape(r.host or '?')}")
    out.print(f"  started:  {r.started[:19]}   ended: {(r.ended or '-')[:19]}")
    out.print(f"  code:     {_git_text(r.git)}" + (f" (diff {r.git['diff_digest'][:12]})"
                                                   if r.git.get("diff_digest") else ""))
    if r.env.get("python"):
        out.print(f"  python:   {r.env['python']} ({len(r.env.get('packages') or {})} packages recorded)")
    if r.parent_run:
        out.print(f"  parent:   {r.parent_run}")
    for k, v in r.params.items():
        out.print(f"  param     {out.escape(k)} = {out.escape(repr(v))}")
    for i in r.inputs:
        out.print(f"  input     {i.role:10} {out.short(i.snapshot_id)} {out.escape(i.dataset or i.path or '')}")
    for o in r.outputs:
        out.print(f"  output    {'':10} {out.short(o.snapshot_id)} {out.escape(o.dataset or o.path or '')}")
    for m in r.metrics:
        out.print(f"  metric    {out.escape(m.name)} = {m.value:g}" + (f" on {m.split}" if m.split else "")
                  + (f" (step {m.step})" if m.step is not None else ""))


def render_run(r: Any, fmt: str = "table") -> None:
    """Used by ``lineage show RUN``: the record on a terminal; in TSV and CSV, one row per
    param, input, output and metric (``section``, ``name``, ``value``, ``split``, ``snapshot``)."""
    if fmt == "table":
        _render_run(r)
        return
    cols = [out.Col(c) for c in ("section", "name", "value", "split", "snapshot")]
    rows: list[list[Any]] = [["param", k, v, None, None] for k, v in r.params.items()]
    rows += [["input", i.role, i.dataset or i.path, None, i.snapshot_id] for i in r.inputs]
    rows += [["output", None, o.dataset or o.path, None, o.snapshot_id] for o in r.outputs]
    rows += [["metric", m.name, m.value, m.split, None] for m in r.metrics]
    out.listing(r, cols, rows, fmt)


def render_runs(items: list[Any], fmt: str = "table") -> None:
    """Used by ``lineage log --runs``: a terminal gets the short run IDs, TSV and CSV the full ones."""
    from lineage.runs.history import summary_text

    cols = [out.Col("run", "fixed", where="table"), out.Col("run_id", where="plain"),
            out.Col("short_id", where="plain"), out.Col("kind", "fixed", keep=5),
            out.Col("status", "fixed", keep=6, colours=_STATUS_COLOUR),
            out.Col("started (UTC)", "fixed", keep=4, where="table"), out.Col("started", where="plain"),
            out.Col("user", keep=2), out.Col("commit", "id", keep=1), out.Col("dirty", where="plain"),
            out.Col("params, metrics", where="table"), out.Col("params", where="plain"),
            out.Col("metrics", where="plain"), out.Col("command", keep=3)]
    table = fmt == "table"
    rows = []
    for r in items:
        params, metrics = getattr(r, "params", {}), getattr(r, "metrics", [])
        rows.append([r.short_id, r.run_id, r.short_id, r.kind, r.status, r.started[:16].replace("T", " "),
                     r.started, out.person(r.user) if table else r.user,
                     (r.git_commit or "") + ("*" if table and r.git_dirty else ""), r.git_dirty,
                     summary_text(params, metrics, width=10**6), params, metrics, " ".join(r.command or [])])
    out.listing({"runs": items}, cols, rows, fmt,
                empty="No runs yet. Record one with 'lineage run --kind KIND -- COMMAND'.")


def render_runs_oneline(items: list[Any]) -> None:
    """``lineage log --runs --oneline``: short ID, ``run``, kind, key params and metrics."""
    from lineage.runs.history import summary_text

    for r in items:
        values = summary_text(getattr(r, "params", {}), getattr(r, "metrics", []))
        out.print(out.escape(f"{r.short_id} run {r.kind} {r.status}" + (f" {values}" if values else "")),
                  overflow="ignore", crop=False)


def _snapshot_text(n: Any) -> str:
    names = ", ".join(f"{d['dataset']}@{d['version']}" for d in n.attrs.get("datasets") or [])
    where = names or n.attrs.get("path") or "snapshot"
    return f"[bold]{out.escape(where)}[/] {out.short(n.id)}"


def _run_text(n: Any) -> str:
    a = n.attrs
    colour = _STATUS_COLOUR.get(a.get("status"), "white")
    when = (a.get("started") or "")[:16].replace("T", " ")
    return (f"[magenta]{a.get('kind')}[/] run {n.id} [{colour}]{a.get('status')}[/] by "
            f"{out.escape(out.person(a.get('user')))} at {when}, {_git_text(a.get('git'))}")


def _render_provenance(p: Any) -> None:
    seen: set[str] = set()

    def label(node_id: str, role: str | None) -> str:
        n = p.node(node_id)
        if n is None:
            return out.escape(node_id)
        text = _snapshot_text(n) if n.type == "snapshot" else _run_text(n)
        return (f"[cyan]{role}[/] " if role else "") + text

    def grow(tree: Any, node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        for e in p.parents(node_id):
            if e.parent in seen:
                tree.add(label(e.parent, e.role) + " [dim](shown above)[/]")
                continue
            branch = tree.add(label(e.parent, e.role))
            grow(branch, e.parent)

    root = out.tree(label(p.root, None))
    grow(root, p.root)
    out.print_tree(root)
    if not p.edges:
        out.print("[dim]No recorded run produced this; it was snapshotted directly.[/]")
    for c in p.commits:
        out.print(f"code: commit {c['commit'][:10]}" + (" (dirty" + (f", diff {c['diff_digest'][:12]}" if c.get("diff_digest") else "") + ")" if c["dirty"] else "")
                  + f" used by {len(c['runs'])} run(s)")
    if p.truncated:
        out.warning("the graph was cut at the edge limit; use --format json for what was read")


def _render_used_by(u: Any, fmt: str = "table") -> None:
    """A heading (on a terminal), then one row per run that read the snapshot."""
    from lineage.runs.model import short_id

    cols = [out.Col("run", "fixed", where="table"), out.Col("run_id", where="plain"),
            out.Col("kind", "fixed", keep=4), out.Col("status", "fixed", keep=3, colours=_STATUS_COLOUR),
            out.Col("role", "fixed"), out.Col("dataset"), out.Col("snapshot", "id"),
            out.Col("match", "fixed", keep=5), out.Col("time (UTC)", "fixed", keep=2, where="table"),
            out.Col("time", where="plain")]
    rows = [[short_id(x.run_id), x.run_id, x.kind, x.status, x.role, x.dataset or x.path, x.snapshot_id,
             x.match, x.time[:16].replace("T", " "), x.time] for x in u.uses]
    if fmt == "table":
        out.print(f"[bold]snapshot {u.snapshot_id}[/]" + (f" ({out.escape(', '.join(u.datasets))})"
                                                          if u.datasets else ""))
        if u.copies:
            out.print(f"  same content also recorded as: {', '.join(out.short(c) for c in u.copies)}")
    out.listing(u, cols, rows, fmt, empty="No run has read it.")


def _render_schema(s: Any, fmt: str = "table") -> None:
    cols = [out.Col("name", "fixed"), out.Col("type", "fixed"), out.Col("auditor", where="plain"),
            out.Col("rows", "fixed", justify="right"), out.Col("columns")]
    rows = [[o.name, o.type + (" (auditor)" if o.auditor and fmt == "table" else ""), o.auditor, o.rows,
             ", ".join(n for n, _ in o.columns)] for o in s.objects]
    out.listing(s, cols, rows, fmt)


def _looks_like_id(value: Any) -> bool:
    """A cell that must stay on one line: a digest or a UUID (a run ID)."""
    import re

    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32,}|[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}",
                                                   value) is not None


def _render_query(r: Any, fmt: str = "table") -> None:
    """Full values (IDs are not shortened: they are what the SQL returned); on a terminal,
    ID cells are never split over lines: other cells wrap, or each row becomes a block
    of ``column  value`` lines when the IDs alone are wider than the terminal."""
    if not r.columns:
        if fmt == "json":
            out.emit_json(r)
        elif fmt == "table":
            out.print("(no result columns)")
        return
    rows = [list(row) for row in r.rows]
    shown = rows[:1000] if fmt == "table" else rows
    cols = [out.Col(c, "fixed" if any(_looks_like_id(row[i]) for row in shown) else "text")
            for i, c in enumerate(r.columns)]
    out.listing(r, cols, shown, fmt)
    if fmt == "table":
        more = len(r.rows) - 1000
        out.note(f"{len(r.rows)} row(s)" + (", first 1000 shown (use --format tsv for all)" if more > 0 else "")
                 + (" (cut at --limit; 0 for no limit)" if r.truncated else ""))
