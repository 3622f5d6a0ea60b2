"""Where the app finds its database, and the `usapp` command line."""

import pytest

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


def test_admin_password_from_the_environment_or_a_file(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.PASSWORD_ENV, raising=False)
    monkeypatch.delenv(settings.PASSWORD_FILE_ENV, raising=False)
    assert settings.admin_password([]) is None
    secret = tmp_path / "admin-password.txt"
    secret.write_text("from-file\n")
    assert settings.admin_password(["--admin-password-file", str(secret)]) == "from-file"
    monkeypatch.setenv(settings.PASSWORD_FILE_ENV, str(secret))
    assert settings.admin_password([]) == "from-file"
    monkeypatch.setenv(settings.PASSWORD_ENV, "from-env")
    assert settings.admin_password([]) == "from-env"


@pytest.mark.parametrize("content, message", [(None, "no such file"), ("\n", "is empty")])
def test_usapp_refuses_a_bad_password_file_in_one_line(monkeypatch, tmp_path, capsys, content, message):
    monkeypatch.delenv(settings.PASSWORD_ENV, raising=False)
    path = tmp_path / "pw.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SystemExit) as ended:
        cli.main(["--admin-password-file", str(path)])
    error = capsys.readouterr().err
    assert ended.value.code == 2 and error.count("\n") == 1 and str(path) in error and message in error


def test_usapp_passes_the_password_file_to_the_app(tmp_path):
    secret = tmp_path / "pw.txt"
    secret.write_text("from-file\n")
    args = cli.command(["--db", "sqlite:///x.db", "--admin-password-file", str(secret)])
    assert args[args.index("--") + 1:] == ["--db", "sqlite:///x.db", "--admin-password-file", str(secret)]
