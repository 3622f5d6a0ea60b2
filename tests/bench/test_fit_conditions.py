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
    (["--fit-smoothing", "--grains", "1", "-1"], "every value must be >= 0")])
def test_options_that_do_not_apply_are_refused_in_one_line(argv, message):
    result = subprocess.run([sys.executable, str(BENCH / "fit_conditions.py"), "--organ", "ovary", *argv],
                            capture_output=True, text=True)
    assert result.returncode == 2 and message in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
