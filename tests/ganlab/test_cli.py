"""The `ganlab` command: models listing, help, and one-line errors with exit status 2."""

import subprocess
import sys

import pytest

from ganlab import cli


def run(capsys, *argv):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def test_models_lists_each_model_with_its_paper_section(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0
    for name, section in (("cgan", "§2.1"), ("sgan", "§2.1-2.2"), ("pgsgan", "§2.3-2.4")):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert section in line
    assert out.count("preset paper") == 6 and out.count("preset cpu-demo") == 6


@pytest.mark.parametrize("command", ["train", "generate"])
def test_help_explains_every_option(capsys, command):
    code, _, _ = run(capsys, command, "--help")
    assert code == 0
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings} has no help"


@pytest.mark.parametrize("argv, message", [
    (["train", "--model", "stylegan", "--data", "{toy}"], "unknown model 'stylegan'; allowed: cgan, sgan, pgsgan"),
    (["train", "--model", "cgan", "--data", "{toy}", "--preset", "fast"], "unknown preset 'fast' for cgan"),
    (["train", "--model", "cgan", "--data", "{toy}", "--set", "widht=3"], "unknown setting 'widht'"),
    (["train", "--model", "cgan", "--data", "{toy}", "--set", "threads=0"], "threads 0 not allowed"),
    (["train", "--model", "cgan", "--data", "{toy}", "--set", "resolution=50"], "resolution 50 not allowed"),
    (["train", "--model", "pgsgan", "--data", "{toy}", "--set", "phase_epochs=[1,2]"],
     "phase_epochs [1, 2] not allowed"),
    (["train", "--model", "cgan", "--data", "missing.h5"], "missing.h5: no such file"),
    (["train", "--model", "cgan"], "a new run needs --model and --data"),
    (["train", "--resume", "nowhere"], "run 'nowhere' not found"),
    (["generate", "--run", "nowhere", "--masks", "{toy}", "--out", "{tmp}/x.h5"], "run 'nowhere' not found"),
    (["generate", "--run", "x", "--masks", "{toy}", "--out", "{toy}"], "exists; pass --overwrite"),
])
def test_user_errors_are_one_line(capsys, toy_file, tmp_path, argv, message):
    argv = [a.format(toy=toy_file, tmp=tmp_path) for a in argv]
    code, _, err = run(capsys, *argv, "--runs", tmp_path) if argv[0] == "train" else run(capsys, *argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("ganlab: error: ") and message in err, err
    assert not list(tmp_path.glob("0*")), "a refused run must not leave a run folder"


def test_resume_refuses_to_change_what_the_run_computes(capsys, toy_file, tmp_path):
    from ganlab import train
    from tests.ganlab.conftest import TINY
    run_dir = train.train("cgan", toy_file, preset="cpu-demo", overrides={**TINY, "max_iters": 1},
                          runs_root=tmp_path, progress=False)
    code, _, err = run(capsys, "train", "--resume", run_dir, "--set", "lr_g=0.5")
    assert code == 2 and "setting 'lr_g' cannot change on resume" in err
    code, _, err = run(capsys, "train", "--resume", run_dir, "--model", "sgan")
    assert code == 2 and "--model sgan differs from the resumed run's cgan" in err


def test_python_m_ganlab_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "ganlab", "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("ganlab ")


def test_models_json_lists_every_setting(capsys):
    import json

    from ganlab import presets
    code, out, _ = run(capsys, "models", "--json")
    tables = json.loads(out)
    assert code == 0 and set(tables) == {"cgan", "sgan", "pgsgan", "specklegan", "speckle-baseline", "segdiff"}
    assert tables["pgsgan"]["presets"]["paper"] == presets.config_for("pgsgan", "paper")
