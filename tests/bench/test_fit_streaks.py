"""bench/fit_streaks.py: its grid, the streaks it tries in force only while it simulates, and its
command line refusing bad values in one line."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import fit_streaks  # noqa: E402

from ussim import tissue  # noqa: E402


def test_the_grid_tries_no_streaks_once_and_every_other_combination():
    keys = fit_streaks.candidates((0.0, 3.0, 5.0), (0.2, 0.3), (5.0,))
    assert keys == ["0/0.2/5", "3/0.2/5", "3/0.3/5", "5/0.2/5", "5/0.3/5"]
    assert fit_streaks.candidate_values("3/0.3/5") == {"streak_db": 3.0, "streak_mm": 0.3, "streak_aspect": 5.0}
    # no streaks draw the same images whatever their lengths: the held-out check simulates them once
    assert fit_streaks.effective({"background": fit_streaks.candidate_values("0/0.2/5")}) == \
        fit_streaks.effective({"background": fit_streaks.candidate_values("0/0.3/8")})
    assert fit_streaks.effective({"background": fit_streaks.candidate_values("3/0.2/5")}) != \
        fit_streaks.effective({"background": fit_streaks.candidate_values("3/0.3/5")})


def test_tried_streaks_hold_inside_the_block_and_for_the_named_class_only():
    before, ivus = tissue.load("ovary"), tissue.load("ivus")
    values = {"streak_db": 4.0, "streak_mm": 0.25, "streak_aspect": 6.0}
    with pytest.raises(RuntimeError), fit_streaks.replaced_streaks("ovary", {"background": values}):
        inside, ivus_inside = tissue.load("ovary"), tissue.load("ivus")
        raise RuntimeError("a failed simulation")
    assert {key: getattr(inside.classes["background"], key) for key in values} == values
    assert inside.classes["ovary"] == before.classes["ovary"]
    assert ivus_inside == ivus  # other organs load as they are
    assert tissue.load("ovary") == before


@pytest.mark.parametrize("argv,message", [
    (["--classes", "liver"], "--classes liver: not in the ovary table"),
    (["--classes", "background", "--levels", "-1"], "--levels -1.0: every value must be finite and >= 0"),
    (["--classes", "background", "--aspects", "0"], "--aspects 0.0: every value must be finite and > 0"),
    (["--classes", "background", "--frames", "2"], "--frames 2: the classifier test needs at least 4 tuning frames"),
])
def test_bad_options_end_in_one_line_with_status_2(argv, message):
    done = subprocess.run([sys.executable, str(BENCH / "fit_streaks.py"), "--organ", "ovary", *argv],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
