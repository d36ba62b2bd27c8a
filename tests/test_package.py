"""The package's face to the world: lazy public names, one list of method names, a command line that answers fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

import camo
from camo import choices


def test_public_names_resolve_lazily_and_unknown_ones_raise() -> None:
    assert set(camo.__all__) >= {"fgsm", "pgd", "cloak", "Classifier", "load_model", "images"}
    for name in camo.__all__:
        assert getattr(camo, name) is not None
    assert camo.images.__name__ == "camo.images"
    with pytest.raises(AttributeError, match="no attribute 'fgsn'"):
        _ = camo.fgsn  # type: ignore[attr-defined]


def test_the_command_lines_method_names_are_the_attack_registry() -> None:
    from camo.attacks import METHODS

    assert tuple(METHODS) == choices.ATTACK_METHODS
    assert set(choices.LINF_METHODS) <= set(choices.ATTACK_METHODS) and "fgm" not in choices.LINF_METHODS


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["attack", "--help"], ["sweep", "--eps", "oops", "x.png"]])
def test_help_and_argument_errors_do_not_import_torch(argv: list[str]) -> None:
    """`camo --help` and usage errors answer before torch (seconds to import) is loaded."""
    code = ("import sys\nfrom camo.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from camo.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"camo {camo.__version__}"
