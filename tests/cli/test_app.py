"""The command table of lineage.cli.app matches what each module registers."""

import importlib

import typer

from lineage.cli.app import COMMAND_MODULES, _command_name


def _names(module: str) -> set[str]:
    app = typer.Typer()
    importlib.import_module(module).register(app)
    names = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    names |= {g.name for g in app.registered_groups}
    return names


def test_each_module_registers_exactly_the_commands_listed():
    for module, listed in COMMAND_MODULES.items():
        assert _names(module) == set(listed), module


def test_command_names_are_unique_across_modules():
    names = [n for listed in COMMAND_MODULES.values() for n in listed]
    assert len(names) == len(set(names))


def test_the_command_is_found_after_global_options():
    assert _command_name(["-C", "some/dir", "status", "--json"]) == "status"
    assert _command_name(["--repo", "x", "audit"]) == "audit"
    assert _command_name(["--help"]) is None
