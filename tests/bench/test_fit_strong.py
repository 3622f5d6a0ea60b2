"""bench/fit_strong.py: a candidate fraction keeps the strong scatterers' share of the power, the
re-levelling reaches the real mean gray, and the command line refuses bad fractions in one line."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import fit_strong  # noqa: E402

from ussim import tissue  # noqa: E402


def test_a_candidate_fraction_keeps_the_strong_share_of_the_power():
    table = tissue.load("ovary")
    before = table.classes["background"]
    moved = fit_strong.with_strong(table, {"background": 0.05}, {"background": before.echogenicity_db - 1.0})
    after = moved.classes["background"]
    assert after.strong_fraction == 0.05
    assert after.strong_fraction * 10 ** (after.strong_db / 10) == pytest.approx(
        before.strong_fraction * 10 ** (before.strong_db / 10))
    assert after.echogenicity_db == pytest.approx(before.echogenicity_db - 1.0)
    assert moved.classes["ovary"] == table.classes["ovary"]  # only the named class moves
    assert table.classes["background"] == before  # the table itself is left alone


def test_relevelling_reaches_the_real_mean_gray():
    """A stand-in simulator whose mean gray rises 11 gray per dB of echogenicity (not the first
    step's assumed 8) and with the fraction: the secant steps end within 0.5 gray of the target."""
    table = tissue.load("ovary")
    classes = ["background", "ovary"]
    target = {"background": 47.3, "ovary": 66.5}

    def simulate_frames(candidate):
        means = {n: 40.0 + 11.0 * candidate.classes[n].echogenicity_db + 200 * candidate.classes[n].strong_fraction
                 for n in classes}
        return np.zeros((1, 2, 2)), means

    best, _, steps = fit_strong.relevelled(table, 0.02, classes, target, simulate_frames)
    assert len(steps) == fit_strong.RELEVEL_STEPS
    for n in classes:
        assert best.classes[n].strong_fraction == 0.02
        assert simulate_frames(best)[1][n] == pytest.approx(target[n], abs=0.5)


@pytest.mark.parametrize("argv,message", [
    (["--fractions", "0.01"], "at least two different fractions are needed"),
    (["--fractions", "0.01", "1.5"], "fraction 1.5 is not allowed (must lie in (0, 1))"),
    (["--fractions", "0", "0.01"], "fraction 0 is not allowed")])
def test_bad_fractions_are_refused_in_one_line(argv, message):
    result = subprocess.run([sys.executable, str(BENCH / "fit_strong.py"), "--organ", "ovary", *argv],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
