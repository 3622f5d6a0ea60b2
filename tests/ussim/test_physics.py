"""Physical validation of the simulator against theory; the scenes live in ussim.validation.

Together about half a minute on 2 cores.
"""

import pytest

from ussim import validation


def test_homogeneous_speckle_is_fully_developed():
    measured = validation.speckle()
    assert measured["mean_over_std"] == pytest.approx(1.913, abs=0.10)
    assert measured["nakagami_m"] == pytest.approx(1.0, abs=0.15)
    assert measured["log_std_db"] == pytest.approx(5.57, abs=0.3)


def test_point_target_widths_match_theory():
    measured = validation.point_target()
    theory = measured["theory"]
    assert measured["peak_z_m"] == pytest.approx(theory["peak_z_m"], abs=20e-6)
    assert measured["peak_x_m"] == pytest.approx(0.0, abs=1e-9)
    assert measured["axial_m"] == pytest.approx(theory["axial_m"], rel=0.15)
    assert measured["lateral_m"] == pytest.approx(theory["lateral_m"], rel=0.15)


@pytest.mark.parametrize("bandwidth", [0.4, 0.77])
def test_mean_log_envelope_falls_at_two_alpha_f(bandwidth):
    """DECISION: the literal check against -2 alpha0 fc runs on a 40 %-bandwidth variant of the
    linear probe, where the imaging system's effective frequency is within a few % of fc; the
    preset's 77 % is checked against its measured effective frequency (see the function)."""
    measured = validation.attenuation_slope(bandwidth)
    assert measured["slope_db_cm"] == pytest.approx(measured["theory"]["at_effective_db_cm"], rel=0.10)
    if bandwidth <= 0.4:
        assert measured["slope_db_cm"] == pytest.approx(measured["theory"]["at_fc_db_cm"], rel=0.10)


def test_deeper_echoes_are_weaker_and_downshifted():
    measured = validation.downshift()
    assert measured["peak"][1] < measured["peak"][0] * 10 ** (-10 / 20)
    assert measured["centroid_hz"][1] < measured["centroid_hz"][0] - 0.5e6


def test_anechoic_cyst_contrast_below_minus_20_db():
    assert validation.cyst_contrast()["contrast_db"] < -20
