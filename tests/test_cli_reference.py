"""docs/CLI.md and the README's CLI reference must be what docs/cli_reference.py makes of the parsers now."""

import argparse
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STALE = "stale: run `python docs/cli_reference.py` and commit docs/CLI.md and README.md"


@pytest.fixture(scope="module")
def reference():
    # docs/ is not a package, so load the script by its path.
    spec = importlib.util.spec_from_file_location("cli_reference", REPO / "docs" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def expected(reference):
    return reference.outputs(REPO)


def section(readme: str, reference) -> str:
    return readme[readme.index(reference.START):readme.index(reference.END)]


def test_committed_files_are_current(reference, expected):
    cli_md = REPO / reference.CLI_MD
    assert cli_md.exists(), f"docs/CLI.md is missing: {STALE}"
    assert cli_md.read_text(encoding="utf-8") == expected[reference.CLI_MD], f"docs/CLI.md is {STALE}"
    readme = (REPO / reference.README).read_text(encoding="utf-8")
    assert reference.START in readme and reference.END in readme, f"README.md has no CLI reference: {STALE}"
    assert section(readme, reference) == section(expected[reference.README], reference), f"README.md is {STALE}"


def subcommand_progs(parser: argparse.ArgumentParser) -> list[str]:
    """Every subcommand below a parser, found independently of the generator's own walk."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub.prog, *subcommand_progs(sub)]
    return found


def test_every_subcommand_is_documented(reference, expected):
    cli_md, readme = expected[reference.CLI_MD], section(expected[reference.README], reference)
    for program, module in reference.PROGRAMS.items():
        parser = importlib.import_module(module).build_parser()
        progs = [program, *subcommand_progs(parser)]
        if program not in ("usapp", "python -m app.demo"):
            assert len(progs) > 1, f"{program} has no subcommands"
        for prog in progs:
            assert f"\n## {prog}\n" in cli_md
            assert f"\nusage: {prog} " in cli_md, f"usage line of {prog} does not name it"
            assert f"[`{prog}`]" in readme
    assert "streamlit run" in readme and "streamlit run" in cli_md


def test_output_is_independent_of_terminal_and_machine(reference, expected, monkeypatch):
    monkeypatch.setenv("COLUMNS", "37")
    monkeypatch.setenv("USCOMPARE_CACHE", str(REPO / "elsewhere"))
    assert reference.outputs(REPO) == expected
    for text in expected.values():
        assert str(REPO) not in text and str(Path.home()) + "/" not in text


def test_check_flags_stale_copies_only(reference, tmp_path, capsys):
    (tmp_path / "README.md").write_text("# A project\n\nSome text.\n", encoding="utf-8")
    root = ["--root", str(tmp_path)]
    assert reference.main(["--check", *root]) == 1  # nothing generated yet
    assert reference.main(root) == 0
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# A project\n\nSome text.\n\n<!-- cli-reference:start -->\n## CLI reference\n")
    assert reference.main(["--check", *root]) == 0
    assert reference.main(root) == 0 and (tmp_path / "README.md").read_text(encoding="utf-8") == readme
    capsys.readouterr()

    cli_md = tmp_path / "docs" / "CLI.md"
    cli_md.write_text(cli_md.read_text(encoding="utf-8").replace("usage: ussim info", "usage: ussim inf"))
    assert reference.main(["--check", *root]) == 1
    assert capsys.readouterr().err.strip() == "docs/CLI.md is stale: run `python docs/cli_reference.py`"

    assert reference.main(root) == 0
    (tmp_path / "README.md").write_text(readme.replace("| summarise", "| summarize"), encoding="utf-8")
    assert reference.main(["--check", *root]) == 1
    assert "README.md is stale" in capsys.readouterr().err
