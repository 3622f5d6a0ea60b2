"""`uscompare run`: results file, one-line errors with exit status 2, help for every option."""

import subprocess
import sys
from pathlib import Path

import pytest

from compare import cli, results

FAST = ["--backbone", "texture-v1", "--kid-subsets", "5", "--diversity-pairs", "5", "--pr-k", "2", "--dc-k", "2",
        "--no-progress"]


def test_run_writes_a_results_file_and_prints_the_table(toy_files, tmp_path, capsys):
    real, sim = toy_files
    out = tmp_path / "results.nc"
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "--reference", str(real), "--method", f"physics={sim}", "--out", str(out), *FAST])
    assert done.value.code == 0
    captured = capsys.readouterr()
    assert "fid[texture-v1]" in captured.out and f"wrote {out}" in captured.out
    assert "uscompare: note: physics KID: KID subset size reduced" in captured.err  # one line per note
    ds = results.read(out)
    assert list(ds["method"].values) == ["reference", "physics"] and ds.attrs["kid_subsets"] == 5


def call(argv, capsys) -> tuple[int, str]:
    try:
        code = cli.run_cli("uscompare", cli._main, argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--method", "physics"], "expected NAME=FILE.h5 or NAME=SEED0.h5,SEED1.h5,..., got 'physics'"),
    (["--method", "physics={sim}", "--size-mismatch", "crop"], "invalid choice: 'crop'"),
    (["--method", "physics={sim}", "--kid-subsets", "0"], "--kid-subsets: 0 is out of range"),
    (["--method", "physics={tmp}/nowhere.h5"], "nowhere.h5: no such image-set file"),
    (["--method", "physics={sim}", "--backbone", "vgg"], "unknown backbone 'vgg'"),
])
def test_user_errors_are_one_line_with_status_2(toy_files, tmp_path, capsys, args, message):
    real, sim = toy_files
    args = [a.format(sim=sim, tmp=tmp_path) for a in args]
    code, err = call(["run", "--reference", str(real), "--out", str(tmp_path / "r.nc"), "--no-progress", *args],
                     capsys)
    assert code == 2 and message in err
    if "usage:" not in err:
        assert err.count("\n") == 1 and err.startswith("uscompare: error: ")


def test_the_installed_command_refuses_inception_fid_without_weights_in_one_line(toy_files, tmp_path):
    real, sim = toy_files
    command = [str(Path(sys.executable).with_name("uscompare")), "run", "--reference", str(real),
               "--method", f"physics={sim}", "--out", str(tmp_path / "r.nc"), "--offline", "--no-progress"]
    result = subprocess.run(command, capture_output=True, text=True)  # the private caches are in its environment
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "needs the FID Inception weights pt_inception-2015-12-05-6726825d.pth: pass --weights PATH or put the " \
           "file in" in result.stderr
    assert not (tmp_path / "r.nc").exists()


def test_an_existing_results_file_is_refused_before_any_work(toy_files, tmp_path, capsys):
    real, sim = toy_files
    out = tmp_path / "results.nc"
    out.write_text("keep me")
    assert cli.run_cli("uscompare", cli._main, ["run", "--reference", str(real), "--method", f"p={sim}",
                                                "--out", str(out), *FAST]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err and out.read_text() == "keep me"


def test_help_explains_every_option_of_run():
    text = cli.build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for option in ("--reference", "--method", "--out", "--backbone", "--weights", "--offline", "--device",
                   "--batch-size", "--no-cache", "--kid-subsets", "--kid-subset-size", "--kid-seed", "--pr-k",
                   "--dc-k", "--diversity-pairs", "--diversity-seed", "--min-class-pixels", "--size-mismatch",
                   "--reference-name", "--overwrite", "--no-progress"):
        assert option in text, option
    assert "random-inception-<seed>" in text and "texture-v1" in text
