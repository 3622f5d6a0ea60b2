"""bench/fit_conditions.py: the settings it tries are in force only while it simulates, and its
command line refuses what does not apply in one line."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import fit_conditions  # noqa: E402

from ussim import conditions  # noqa: E402


def test_a_tried_setting_holds_inside_the_block_only():
    before = conditions.settings("ovary")
    with fit_conditions.replaced_settings("ovary", image_smoothing_grains={"background": 7.0, "ovary": 8.0}):
        inside = conditions.settings("ovary")
    assert inside.image_smoothing_grains == {"background": 7.0, "ovary": 8.0}
    assert inside.sketch_reflector_db == before.sketch_reflector_db  # only what was asked changes
    assert conditions.settings("ovary") == before
    with pytest.raises(RuntimeError), fit_conditions.replaced_settings("ovary", image_smoothing_grains=9.0):
        raise RuntimeError("a failed simulation")
    assert conditions.settings("ovary") == before


@pytest.mark.parametrize("argv,message", [
    (["--grains", "2"], "--grains applies to --fit-smoothing only"),
    (["--fit-smoothing", "--levels", "5"], "--levels applies to the reflector fit"),
    (["--offsets", "-2"], "--offsets applies to --fit-strong only"),
    (["--fit-smoothing", "--fit-strong"], "fit one setting each"),
    (["--fit-strong", "--offsets", "0", "nan"], "every value must be finite"),
    (["--fit-smoothing", "--grains", "1", "-1"], "every value must be >= 0"),
    (["--fit-strong", "--frames", "3"], "--frames 3: the classifier test needs at least 4 tuning frames"),
    (["--refinement-grains", "2"], "--refinement-grains applies to --fit-refinement only"),
    (["--fit-refinement", "--fit-smoothing"], "--fit-smoothing and --fit-refinement fit one setting each"),
    (["--fit-refinement", "--refinement-grains", "0", "-1"], "every value must be a finite number >= 0"),
    (["--fit-refinement", "--levels", "5"], "--levels applies to the reflector fit, not to --fit-refinement")])
def test_options_that_do_not_apply_are_refused_in_one_line(argv, message):
    result = subprocess.run([sys.executable, str(BENCH / "fit_conditions.py"), "--organ", "ovary", *argv],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_the_fit_meets_both_goals_first_then_asks_the_classifier():
    """A candidate that wins on JS alone but widens the grain by a quarter loses to one inside both
    goals; of two inside both, the classifier's lower accuracy wins whatever the scores; a class
    too small to measure takes the candidate best for the measured ones."""
    real = {"ovary": [3.5, 4.5], "background": [3.4, 7.4], "vessel": [float("nan"), float("nan")]}
    tuned = {"0.25": {"measured": ["background", "ovary"], "js": {"background": 0.013, "ovary": 0.014},
                      "speckle_px": {"background": [3.2, 6.7], "ovary": [4.4, 5.0]}, "c2st": {"accuracy": 0.70}},
             "1.0": {"measured": ["background", "ovary"], "js": {"background": 0.011, "ovary": 0.019},
                     "speckle_px": {"background": [3.0, 6.2], "ovary": [4.0, 4.6]}, "c2st": {"accuracy": 0.65}}}
    chosen, shared, scores = fit_conditions.chosen_by_class(tuned, real, ["background", "ovary", "vessel"])
    assert scores["0.25"]["ovary"] == pytest.approx((4.4 / 3.5 - 1) / 0.2, abs=1e-4)   # the grain decides
    assert scores["1.0"]["ovary"] == pytest.approx(0.019 / 0.02, abs=1e-4)            # the JS decides
    assert scores["0.25"]["background"] < scores["1.0"]["background"] < 1
    assert chosen == {"background": 1.0, "ovary": 1.0, "vessel": 1.0}
    tuned["0.25"]["c2st"]["accuracy"] = 0.60
    assert fit_conditions.chosen_by_class(tuned, real, ["background", "ovary"])[0] == {"background": 0.25,
                                                                                      "ovary": 1.0}
    assert shared == 1.0


def test_a_width_that_cannot_be_measured_leaves_the_score_to_js():
    assert fit_conditions.candidate_score(0.01, [float("nan"), 5.0], [3.0, 5.0]) == pytest.approx(0.5)


def test_the_strong_fit_is_refused_for_a_table_without_strong_scatterers():
    result = subprocess.run([sys.executable, str(BENCH / "fit_conditions.py"), "--organ", "ivus", "--fit-strong"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "which has no strong scatterers" in result.stderr.splitlines()[-1]
