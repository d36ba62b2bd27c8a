"""Every command's ``--help`` (sub-commands included) is exactly the text it was before commands moved modules.

``help_texts.json`` was generated from the code before the change (``python -m tests.cli.test_help_texts``) with a
200-column terminal, the width the ``plain_console`` fixture gives every test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "help_texts.json"


def help_texts() -> dict[str, str]:
    """``{"camo attack": help text, ...}`` for the top-level parser and every (sub-)command below it."""
    from camo.cli import build_parser

    texts: dict[str, str] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        texts[path] = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")

    walk(build_parser(), "camo")
    return texts


def test_every_help_text_is_unchanged() -> None:
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))
    actual = help_texts()
    assert sorted(actual) == sorted(expected)
    for command, text in expected.items():
        assert actual[command] == text, command


if __name__ == "__main__":  # regenerate: COLUMNS=200 PYTHONPATH=src python -m tests.cli.test_help_texts
    if os.environ.get("COLUMNS") != "200":
        sys.exit("run with COLUMNS=200")
    FIXTURE.write_text(json.dumps(help_texts(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
