"""The comparison page on a file of several comparisons, and the results file given on the command line."""

import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import cli, settings
from app.study import db
from tests.compare.test_results_groups import NOTICE, TITLES

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TIMEOUT = 60


@pytest.fixture
def grouped(grouped_comparisons):
    """The grouped results file of the session (tests/conftest.py), shared with tests/compare."""
    return grouped_comparisons[1]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.DB_ENV, f"sqlite:///{tmp_path / 'study.db'}")
    monkeypatch.setenv(settings.PASSWORD_ENV, "test-admin")  # admin pages need a password
    monkeypatch.delenv(settings.RESULTS_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["main.py"])  # pytest's own arguments are not the app's
    yield
    db.dispose_engines()


def signed_in_app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.session_state["admin_signed_in"] = True
    return at


def methods(at) -> list[str]:
    return at.dataframe[0].value.iloc[:, 0].tolist()


def test_several_comparisons_get_a_selector_and_the_notice(env, grouped):
    at = signed_in_app().run()
    at.text_input(key="comparison_path").input(str(grouped))
    at = at.run()
    assert not at.exception and not at.error
    assert [w.value for w in at.main.warning] == [NOTICE]  # the sidebar has its own
    choice = at.radio(key="comparison_choice")
    assert choice.value == "ovary" and list(choice.options) == list(TITLES.values())
    assert methods(at) == ["ovary-reference", "physics", "gan"]
    at = choice.set_value("ivus").run()
    assert not at.exception and not at.error
    assert methods(at) == ["ivus-reference", "physics"]
    assert [w.value for w in at.main.warning] == [NOTICE]  # the sidebar has its own


@pytest.mark.parametrize("how", ["option", "environment"])
def test_the_results_file_is_prefilled_from_the_command_line_or_environment(env, grouped, monkeypatch, how):
    if how == "option":
        argv = ["main.py", "--db", settings.db_url([]), "--results", str(grouped)]
        monkeypatch.setattr(sys, "argv", argv)
        monkeypatch.setenv(settings.RESULTS_ENV, "/the/option/wins.nc")
    else:
        monkeypatch.setenv(settings.RESULTS_ENV, str(grouped))
    at = signed_in_app().run()
    assert not at.exception and not at.error
    assert at.text_input(key="comparison_path").value == str(grouped)
    assert methods(at) == ["ovary-reference", "physics", "gan"]


def test_results_option_beats_env_beats_none(monkeypatch):
    monkeypatch.delenv(settings.RESULTS_ENV, raising=False)
    assert settings.results_path([]) is None
    assert settings.results_path(["--db", "sqlite:///x.db"]) is None
    monkeypatch.setenv(settings.RESULTS_ENV, "env.nc")
    assert settings.results_path([]) == "env.nc"
    assert settings.results_path(["--results", "runs/demo/results.nc"]) == "runs/demo/results.nc"


def test_usapp_passes_the_results_file_after_the_separator(tmp_path):
    # --results must name an existing file (ussim.cliargs), so the test makes one rather than
    # relying on a local `make demo` having left runs/demo/results.nc behind.
    results = tmp_path / "results.nc"
    results.write_bytes(b"")
    args = cli.command(["--db", "sqlite:///x.db", "--results", str(results), "--server.port", "8600"])
    assert args[args.index("--") + 1:] == ["--db", "sqlite:///x.db", "--results", str(results)]
    assert args[5:args.index("--")] == ["--server.port", "8600"]
    assert "--results" not in cli.command(["--db", "sqlite:///x.db"])
