"""Where the app finds its database, and the `usapp` command line."""

from app import cli, settings


def test_db_option_beats_env_beats_default(monkeypatch):
    monkeypatch.delenv(settings.DB_ENV, raising=False)
    assert settings.db_url([]) == settings.DEFAULT_DB
    monkeypatch.setenv(settings.DB_ENV, "sqlite:///env.db")
    assert settings.db_url([]) == "sqlite:///env.db"
    assert settings.db_url(["--db", "postgresql://h/s"]) == "postgresql://h/s"


def test_usapp_runs_streamlit_on_main_with_the_db_after_the_separator():
    args = cli.command(["--db", "sqlite:///x.db", "--server.port", "8600"])
    assert args[1:4] == ["-m", "streamlit", "run"] and args[4].endswith("app/main.py")
    assert args[5:] == ["--server.port", "8600", "--", "--db", "sqlite:///x.db"]
