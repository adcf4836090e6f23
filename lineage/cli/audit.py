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
from lineage.cli.flags import deprecated
from lineage.errors import RulePluginWarning

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
        run_ids: list[str] = typer.Argument(
            None, metavar="[RUN_ID|PATH]...",
            help="Runs to audit, or files (a model) whose writers and readers to audit."),
        all_runs: bool = typer.Option(False, "--all", help="Audit every recorded run."),
        test_set: Optional[str] = typer.Option(None, "--test-set", metavar="PATH",
                                               help="Every run that scored on this content, under any name."),
        since: Optional[str] = typer.Option(None, "--since", metavar="REF",
                                            help="Runs started after this git commit (or ISO time)."),
        fmt: str = typer.Option("text", "--format", "-F", help="text, json, sarif or junit."),
        old_fmt: Optional[str] = deprecated("-f", "--format"),
        fail_on: Optional[str] = typer.Option(None, "--fail-on",
                                              help="critical, error, warning, info or never (default: configured, else error)."),
        rule: list[str] = typer.Option([], "--rule", help="Only these rules (repeatable)."),
        old_rule: list[str] = deprecated("-r", "--rule", multiple=True),
        output_file: Optional[str] = typer.Option(None, "--output", "-o", help="Write the report to a file."),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
        no_verify: bool = typer.Option(False, "--no-verify",
                                       help="Dangerous: skip checking the tables against the event log."),
        verbose: bool = typer.Option(False, "--verbose", "-v",
                                     help="Text: every piece of evidence (every example row, every field, "
                                          "full snapshot IDs)."),
    ) -> None:
        """Check runs for train/test leakage and test-set reuse. Exit 1 on findings at or above --fail-on."""
        from lineage import audit as _audit

        fmt, rule = old_fmt or fmt, rule + old_rule
        fmt = "json" if as_json else fmt
        if fmt not in ("text", "json", "sarif", "junit"):
            raise typer.BadParameter("use text, json, sarif or junit", param_hint="--format")
        with _plugin_warnings(), open_repo() as repo:
            ids = _audit.select_runs(repo, run_ids or None, all_runs=all_runs, since=since,
                                     test_set=test_set)
            report = _audit.run(repo, ids, only=rule or None, fail_on=fail_on, verify=not no_verify)
        if fmt == "json":
            text = json.dumps(out.plain(report), indent=2, ensure_ascii=False) + "\n"
        elif fmt == "sarif":
            from lineage.audit.formats import sarif

            text = json.dumps(sarif(report), indent=2, ensure_ascii=False) + "\n"
        elif fmt == "junit":
            from lineage.audit.formats import junit

            text = junit(report)
        else:
            from lineage.audit.formats import text as as_text

            text = as_text(report, width=_width(), verbose=verbose)
        if output_file:
            from pathlib import Path

            from lineage.audit.formats import summary_line

            Path(output_file).write_text(text)
            out.note(summary_line(report) + f" (report written to {output_file})")
        else:
            import sys

            sys.stdout.write(text)
        raise typer.Exit(report.exit_code())

    @app.command()
    def rules(fmt: Optional[str] = out.format_option(),
              as_json: bool = typer.Option(False, "--json", help="Same as --format json.")) -> None:
        """List the audit rules: slug, default severity, title, what each checks, why it
        matters, how to fix it, and its options."""
        import sys

        from lineage.audit.formats import rule_help, rules_text
        from lineage.audit.rules import catalogue

        fmt = out.resolve_format(fmt, as_json, piped="table")  # the text (what, why, fix), piped too
        with _plugin_warnings():
            items = [rule_help(r) for r in catalogue()]
        if fmt == "table":
            sys.stdout.write(rules_text(items, width=_width()))
        else:
            cols = [out.Col(c) for c in ("rule", "severity", "title", "checks", "why", "fix", "source")]
            out.listing({"rules": items}, cols, [[r.get(c.name) for c in cols] for r in items], fmt)

    @app.command()
    def waive(
        rule: Optional[str] = typer.Argument(None, metavar="RULE", help="Rule slug (see 'lineage rules'); "
                                             "with --revoke, a waiver ID (or prefix), or RULE RUN."),
        run_id: Optional[str] = typer.Argument(None, metavar="RUN",
                                               help="Run whose current findings of this rule are accepted."),
        reason: Optional[str] = typer.Option(None, "--reason", help="Why: kept in the log with who and when "
                                             "(required to waive, optional to revoke)."),
        expires: Optional[str] = typer.Option(None, "--expires", metavar="DATE|DURATION",
                                              help="Stop applying then: ISO date or time, or 30d, 12h, 2w."),
        force: bool = typer.Option(False, "--force", help="Record the waiver even though the rule reports "
                                   "no finding on the run now (marked forced)."),
        revoke: bool = typer.Option(False, "--revoke", help="Revoke: WAIVER_ID (or a prefix), or every "
                                    "waiver in force of RULE on RUN."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Accept a rule's current findings on a run, with a reason (recorded as an event); or revoke one."""
        from lineage import audit as _audit

        if rule is None:
            raise typer.BadParameter("give RULE RUN (or, with --revoke, a waiver ID)", param_hint="RULE")
        if revoke:
            if expires is not None or force:
                raise typer.BadParameter("--expires and --force do not apply to --revoke",
                                         param_hint="--revoke")
            with _plugin_warnings(), open_repo() as repo:
                done = _audit.revoke(repo, rule, run_id, reason=reason)
            out.emit({"waivers": done}, as_json, lambda d: [out.print(
                f"Revoked waiver {w.event_id[:12]} ({w.rule} on run {w.run_id}); its findings count again")
                for w in d["waivers"]])
            return
        if run_id is None:
            raise typer.BadParameter("give RULE RUN", param_hint="RUN")
        with _plugin_warnings(), open_repo() as repo:
            w = _audit.waive(repo, rule, run_id, reason or "", expires=expires, force=force)
        until = f", until {w.expires}" if w.expires else ""
        forced = " (forced: no current finding was checked)" if w.forced else ""
        out.emit(w, as_json, lambda w: out.print(
            f"Waived {w.rule} for run {w.run_id} ({out.escape(w.reason)}){until}{forced}; waiver "
            f"{w.event_id[:12]}; findings still show, marked waived"))

    @app.command()
    def waivers(
        run_id: Optional[str] = typer.Argument(None, metavar="[RUN]", help="Only this run's waivers."),
        include_all: bool = typer.Option(False, "--all", help="Include expired and revoked waivers."),
        fmt: Optional[str] = out.format_option(),
        old_fmt: Optional[str] = deprecated("-f", "--format"),
        as_json: bool = typer.Option(False, "--json", help="Same as --format json."),
    ) -> None:
        """List waivers: who waived what, when, why, until when, forced or not, revoked by whom."""
        from lineage import audit as _audit

        fmt = out.resolve_format(old_fmt or fmt, as_json)
        with open_repo() as repo:
            items = _audit.list_waivers(repo, run_id, include_all=include_all)
        if fmt == "table":
            _render_waivers(items)
        else:
            out.listing({"waivers": items}, [out.Col(f) for f in _WAIVER_FIELDS],
                        [_waiver_row(w) for w in items], fmt)


_WAIVER_FIELDS = ("waiver_id", "rule", "run_id", "status", "user", "time", "reason", "expires", "forced",
                  "revoked_by", "revoked_time", "revoke_reason")


def _waiver_row(w: Any) -> list[str]:
    rv = w.revoked or {}
    return [w.event_id, w.rule, w.run_id, w.status, w.user or "", w.time, w.reason, w.expires or "",
            "yes" if w.forced else "no", rv.get("user") or "", rv.get("time") or "", rv.get("reason") or ""]


def _render_waivers(items: list[Any]) -> None:
    cols = [out.Col("waiver", "id"), out.Col("rule", "fixed", keep=8), out.Col("run", "fixed"),
            out.Col("status", keep=7, colours={"active": "green", "expired": "dim", "revoked": "yellow"}),
            out.Col("by", keep=3), out.Col("when", "fixed", keep=4),
            out.Col("until", "fixed", keep=2), out.Col("reason")]
    rows = []
    for w in items:
        status = w.status + (" (forced)" if w.forced else "")
        reason = w.reason
        if w.revoked:
            rv = w.revoked
            reason += (f" — revoked by {out.person(rv.get('user'))} {rv.get('time', '')[:19]}"
                       + (f": {rv['reason']}" if rv.get("reason") else ""))
        from lineage.runs.model import short_id

        rows.append([w.event_id, w.rule, short_id(w.run_id), status, out.person(w.user),
                     w.time[:16].replace("T", " "), (w.expires or "")[:16].replace("T", " ") or "-", reason])
    out.listing({"waivers": items}, cols, rows, "table", empty="No waivers.")


def _width() -> int:
    """Columns for plain-text reports: ``COLUMNS``, else the terminal's, else 80."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)
