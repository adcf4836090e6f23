"""audit, rules and waive: leakage and test-reuse checks over the lineage graph."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from typing import Any, Optional

import typer

from lineage.cli import output as out
from lineage.cli.app import open_repo
from lineage.errors import RulePluginWarning

_COLOURS = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "cyan"}


@contextlib.contextmanager
def _plugin_warnings() -> Iterator[None]:
    """Show a skipped rule plug-in as one warning line on stderr, however the command ends."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RulePluginWarning)
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, RulePluginWarning):
                    out.warning(str(w.message))
                else:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def register(app: typer.Typer) -> None:
    @app.command()
    def audit(
        run_ids: list[str] = typer.Argument(None, metavar="[RUN_ID]...", help="Runs to audit."),
        all_runs: bool = typer.Option(False, "--all", help="Audit every recorded run."),
        since: Optional[str] = typer.Option(None, "--since", metavar="REF",
                                            help="Runs started after this git commit (or ISO time)."),
        fmt: str = typer.Option("text", "--format", "-f", help="text, json, sarif or junit."),
        fail_on: Optional[str] = typer.Option(None, "--fail-on",
                                              help="critical, error, warning, info or never (default: configured, else error)."),
        rule: list[str] = typer.Option([], "--rule", "-r", help="Only these rules (repeatable)."),
        output_file: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to a file."),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """Check runs for train/test leakage and test-set reuse. Exit 1 on findings at or above --fail-on."""
        from lineage import audit as _audit

        fmt = "json" if as_json else fmt
        if fmt not in ("text", "json", "sarif", "junit"):
            raise typer.BadParameter("use text, json, sarif or junit", param_hint="--format")
        with _plugin_warnings(), open_repo() as repo:
            ids = _audit.select_runs(repo, run_ids or None, all_runs=all_runs, since=since)
            report = _audit.run(repo, ids, only=rule or None, fail_on=fail_on)
        if fmt == "json":
            text = json.dumps(out.plain(report), indent=2, ensure_ascii=False) + "\n"
        elif fmt == "sarif":
            from lineage.audit.formats import sarif

            text = json.dumps(sarif(report), indent=2, ensure_ascii=False) + "\n"
        elif fmt == "junit":
            from lineage.audit.formats import junit

            text = junit(report)
        else:
            text = None
        if output_file:
            from pathlib import Path

            Path(output_file).write_text(text if text is not None else _plain_text(report))
            out.note(_summary_line(report) + f" (report written to {output_file})")
        elif text is not None:
            import sys

            sys.stdout.write(text)
        else:
            _render(report)
        raise typer.Exit(report.exit_code())

    @app.command()
    def rules(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
        """List the audit rules: slug, default severity and what each flags."""
        from lineage.audit.rules import catalogue

        with _plugin_warnings():
            items = catalogue()
        out.emit({"rules": items}, as_json, lambda d: _render_rules(d["rules"]))

    @app.command()
    def waive(
        rule: str = typer.Argument(..., help="Rule slug (see 'lineage rules')."),
        run_id: str = typer.Argument(..., help="Run whose findings of this rule are accepted."),
        reason: str = typer.Option(..., "--reason", help="Why: kept in the log with who and when."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Accept a rule's findings on a run, with a reason (recorded as an event)."""
        from lineage import audit as _audit

        with _plugin_warnings(), open_repo() as repo:
            w = _audit.waive(repo, rule, run_id, reason)
        out.emit(w, as_json, lambda w: out.print(
            f"Waived {w.rule} for run {w.run_id} ({out.escape(w.reason)}); findings still show, marked waived"))


def _summary_line(report: Any) -> str:
    s = report.summary
    parts = [f"{s[k]} {k}" for k in ("critical", "error", "warning", "info") if s[k]]
    found = ", ".join(parts) if parts else "no findings"
    waived = f", {s['waived']} waived" if s["waived"] else ""
    verdict = "FAIL" if report.exit_code() else "PASS"
    return (f"{verdict}: {found}{waived} in {s['runs']} run(s), {s['rules']} rule(s) "
            f"(fail on {report.fail_on})")


def _plain_text(report: Any) -> str:
    lines = [f"[{f.severity}] {f.rule} {f.run_id}: {f.message}" + (" (waived)" if f.waived else "")
             for f in report.findings]
    return "\n".join([*lines, _summary_line(report)]) + "\n"


def _render(report: Any) -> None:
    if report.findings:
        for level in ("critical", "error", "warning", "info"):
            group = [f for f in report.findings if f.severity == level]
            if not group:
                continue
            t = out.table("rule", "run", "finding", title=f"{level} ({len(group)})",
                          wrap=("finding",))
            for f in group:
                msg = out.escape(f.message)
                if f.waived:
                    msg = f"[dim]{msg} — waived: {out.escape((f.waiver or {}).get('reason', ''))}[/]"
                t.add_row(f"[{_COLOURS[level]}]{f.rule}[/]", out.short(f.run_id, 13), msg)
            out.print(t)
    colour = "red" if report.exit_code() else "green"
    out.print(f"[bold {colour}]{out.escape(_summary_line(report))}[/]")


def _render_rules(items: list[dict[str, Any]]) -> None:
    t = out.table("rule", "severity", "flags", wrap=("flags",))
    for r in items:
        t.add_row(r["rule"], f"[{_COLOURS[r['severity']]}]{r['severity']}[/]", out.escape(r["title"]))
    out.print(t)
