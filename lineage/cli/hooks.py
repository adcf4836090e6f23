"""``lineage install-hooks``: plain git hooks for teams without the pre-commit framework."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lineage.cli import output as out
from lineage.errors import UsageError

JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def register(app: typer.Typer) -> None:
    @app.command("install-hooks")
    def install_hooks(
        check: list[str] = typer.Option(
            [], "--check", "-c", metavar="CHECK",
            help="A check for the pre-commit hook: status, guard, audit or verify (repeatable; "
                 "default: status, guard and audit)."),
        pre_push_verify: bool = typer.Option(False, "--pre-push-verify",
                                             help="Also write a pre-push hook that runs verify."),
        force: bool = typer.Option(False, "--force", "-f",
                                   help="Replace a hook lineage did not write (it is kept as a backup)."),
        remove: bool = typer.Option(False, "--remove", "--uninstall",
                                    help="Remove lineage's hooks, restoring any they replaced."),
        as_json: bool = JSON,
    ) -> None:
        """Write git hooks that run lineage's commit checks (honours core.hooksPath)."""
        from lineage.hooks import install as hooks  # lazy: every command module loads for --help

        if remove:
            if check or pre_push_verify or force:
                raise UsageError("--remove takes no other option")
            result = hooks.uninstall(Path.cwd())
        else:
            checks = tuple(check) if check else hooks.DEFAULT_CHECKS
            result = hooks.install(Path.cwd(), checks=checks, pre_push_verify=pre_push_verify,
                                   force=force)
        out.emit(result, as_json, _render)


_VERBS = {
    "installed": "Installed", "replaced": "Replaced", "unchanged": "Already installed",
    "removed": "Removed", "restored": "Restored the earlier", "absent": "No",
    "skipped": "Left alone (not written by lineage)",
}


def _render(result: Any) -> None:
    for h in result.hooks:
        if h.action == "absent":
            continue
        checks = f" ({', '.join(h.checks)})" if h.checks else ""
        line = f"{_VERBS[h.action]} {h.name} hook{checks}: {out.escape(h.path)}"
        if h.action == "replaced" and h.backup:
            line += f" (the earlier hook is kept as {out.escape(h.backup)})"
        out.print(line)
    if all(h.action == "absent" for h in result.hooks):
        out.print("No lineage hooks to remove")
    if result.hooks_path_config:
        out.note(f"core.hooksPath is set: hooks live in {out.escape(result.hooks_dir)}")
