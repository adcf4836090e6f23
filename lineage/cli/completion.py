"""Shell completion: ``lineage completion bash|zsh|fish`` prints the script to source,
and the completers that offer dataset names, ``NAME@N`` and run short forms.

The scripts are typer's; a shell asks for candidates by starting ``lineage`` with
``_LINEAGE_COMPLETE`` set (``cli/app.py`` then attaches the completers below). A
completer never fails: outside a repository, or on any error, it offers nothing.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import Any

import typer

#: the environment variable a shell sets to ask ``lineage`` for candidates
COMPLETE_VAR = "_LINEAGE_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
#: run IDs offered at most (the newest ones)
RUN_LIMIT = 200

#: command path -> {parameter: what it takes}; "snapshot" (NAME, NAME@N), "dataset"
#: (NAME), "run" (short forms), "node" (a snapshot or a run)
COMPLETED: dict[tuple[str, ...], dict[str, str]] = {
    ("show",): {"ref": "node"},
    ("provenance",): {"ref": "node"},
    ("used-by",): {"ref": "snapshot"},
    ("diff",): {"a": "snapshot", "b": "snapshot"},
    ("checkout",): {"ref": "snapshot"},
    ("log",): {"name": "dataset"},
    ("forget",): {"name": "dataset"},
    ("status",): {"target": "dataset"},
    ("push",): {"ids": "snapshot"},
    ("fetch",): {"ids": "snapshot"},
    ("pull",): {"ids": "snapshot"},
    ("audit",): {"run_ids": "run"},
    ("waive",): {"run_id": "run"},
    ("waivers",): {"run_id": "run"},
    ("export", "openlineage"): {"run_ids": "run"},
    ("export", "prov"): {"run_ids": "run"},
    ("run", "input"): {"run": "run"},
    ("run", "output"): {"run": "run"},
    ("run", "param"): {"run": "run"},
    ("run", "metric"): {"run": "run"},
    ("run", "finish"): {"run": "run"},
}


def script(shell: str) -> str:
    """The completion script of ``shell`` (bash, zsh or fish)."""
    from lineage.errors import UsageError

    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}: use one of {', '.join(SHELLS)}")
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="lineage", complete_var=COMPLETE_VAR, shell=shell)


# -- candidates ---------------------------------------------------------------------

def _graph(ctx: Any):
    """The graph of the repository the command line names (``-C``) or the current folder's."""
    from lineage.repo import Repo

    os.environ.setdefault("LINEAGE_LOCK_TIMEOUT", "1")  # never wait long for a busy repository
    root = ctx.find_root().params.get("repo") if ctx is not None else None
    return Repo.find(root or None).graph


def datasets(ctx: Any, incomplete: str) -> list[str]:
    try:
        from lineage.snapshots import queries

        return [n for n in sorted(queries.dataset_latest(_graph(ctx))) if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - a completer offers nothing rather than fail
        return []


def snapshots(ctx: Any, incomplete: str) -> list[str]:
    """Dataset names; after ``NAME@``, that dataset's versions and ``latest``."""
    try:
        from lineage.snapshots import queries

        latest = queries.dataset_latest(_graph(ctx))
        name, at, _ = incomplete.partition("@")
        if at:
            if name not in latest:
                return []
            versions = [f"{name}@{v}" for v in range(latest[name][0], 0, -1)] + [f"{name}@latest"]
            return [v for v in versions if v.startswith(incomplete)]
        return [n for n in sorted(latest) if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001
        return []


def runs(ctx: Any, incomplete: str) -> list[str]:
    """Short forms of the newest runs (a full ID when its prefix is being typed)."""
    try:
        from lineage.runs import queries
        from lineage.runs.model import short_id

        ids = queries.run_ids(_graph(ctx), RUN_LIMIT)
        out = [short_id(r) for r in ids if short_id(r).startswith(incomplete)]
        if incomplete:
            out += [r for r in ids if r.startswith(incomplete) and r not in out]
        return list(dict.fromkeys(out))
    except Exception:  # noqa: BLE001
        return []


def nodes(ctx: Any, incomplete: str) -> list[str]:
    return snapshots(ctx, incomplete) + runs(ctx, incomplete)


_KINDS: dict[str, Callable[[Any, str], list[str]]] = {
    "snapshot": snapshots, "dataset": datasets, "run": runs, "node": nodes}


def _typed(fn: Callable[[Any, str], list[str]]) -> Callable[..., list[str]]:
    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        return fn(ctx, incomplete)

    return complete


def _commands(t: typer.Typer, path: tuple[str, ...] = ()):
    for info in t.registered_commands:
        if info.callback is not None:
            yield path + ((info.name or info.callback.__name__.lower().replace("_", "-")),), info.callback
    for group in t.registered_groups:
        if group.typer_instance is not None and group.name:
            yield from _commands(group.typer_instance, path + (group.name,))


def attach(app: typer.Typer) -> set[tuple[str, ...]]:
    """Give the parameters in ``COMPLETED`` their completers; the (command, parameter)
    pairs attached. Installs typer's completion classes too: the scripts are typer's."""
    from typer._completion_classes import completion_init

    completion_init()
    done: set[tuple[str, ...]] = set()
    for path, callback in _commands(app):
        wanted = COMPLETED.get(path)
        if not wanted:
            continue
        for pname, p in inspect.signature(callback).parameters.items():
            if pname in wanted and hasattr(p.default, "autocompletion"):
                p.default.autocompletion = _typed(_KINDS[wanted[pname]])
                done.add(path + (pname,))
    return done


def register(app: typer.Typer) -> None:
    @app.command("completion")
    def completion(shell: str = typer.Argument(..., metavar="bash|zsh|fish",
                                               help="The shell to print the script for.")) -> None:
        """Print the shell-completion script (e.g. eval "$(lineage completion bash)")."""
        typer.echo(script(shell))
