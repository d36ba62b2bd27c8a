"""One way to add a command: every module in ``camo/commands/`` is registered by ``camo.cli``, and explains itself."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import camo.commands
from camo.cli import COMMANDS, build_parser


def _subcommands(parser: argparse.ArgumentParser, path: str = "camo") -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found[f"{path} {name}"] = child
                found.update(_subcommands(child, f"{path} {name}"))
    return found


def test_every_command_module_is_registered_once() -> None:
    folder = Path(camo.commands.__file__).parent
    # A command module defines register(sub, common); the others (progress, outputs, display...) are shared helpers.
    modules = {f"camo.commands.{p.stem}" for p in folder.glob("*.py")
               if p.stem != "__init__" and "\ndef register(" in p.read_text()}
    registered = [command.__name__ for command in COMMANDS]
    assert sorted(registered) == sorted(modules)
    for command in COMMANDS:
        assert callable(command.register), command.__name__


def test_cli_holds_no_command_of_its_own() -> None:
    """Each top-level command's function lives in its own module, not in camo.cli."""
    for name, parser in _subcommands(build_parser()).items():
        func = parser.get_default("func")
        if func is not None:
            assert func.__module__.startswith("camo.commands."), (name, func.__module__)


@pytest.mark.parametrize("command", sorted(_subcommands(build_parser())))
def test_help_explains_with_an_example(command: str) -> None:
    text = _subcommands(build_parser())[command].format_help()
    assert "example" in text and command in text, text
