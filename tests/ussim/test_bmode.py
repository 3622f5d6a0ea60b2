import numpy as np
import pytest

from ussim import bmode
from ussim.errors import UsageError


def test_envelope_of_modulated_gaussian_is_the_gaussian():
    fs, fc, sigma = 40e6, 5e6, 0.3e-6
    t = (np.arange(400) - 200) / fs
    gauss = np.exp(-t**2 / (2 * sigma**2))
    rf = np.stack([gauss * np.cos(2 * np.pi * fc * t), 0.5 * gauss * np.sin(2 * np.pi * fc * t + 0.3)])
    env = bmode.envelope(rf)
    assert env.shape == rf.shape
    middle = gauss > 0.1
    np.testing.assert_allclose(env[0, middle], gauss[middle], rtol=0.01)
    np.testing.assert_allclose(env[1, middle], 0.5 * gauss[middle], rtol=0.01)


def test_complex_lines_pass_through_abs():
    rng = np.random.default_rng(0)
    amplitude = rng.uniform(0.1, 2.0, (3, 50))
    iq = amplitude * np.exp(1j * rng.uniform(0, 2 * np.pi, (3, 50)))
    np.testing.assert_allclose(bmode.envelope(iq), amplitude, rtol=1e-12)


def test_envelope_refuses_a_scalar():
    with pytest.raises(UsageError):
        bmode.envelope(np.float64(1.0))


def test_tgc_gain_is_two_way_nominal_attenuation():
    depth = np.array([0.0, 0.01, 0.05])
    gain = bmode.tgc_gain_db(depth, attenuation_db_cm_mhz=0.5, center_frequency=5e6)
    np.testing.assert_allclose(gain, [0.0, 5.0, 25.0])  # 2 * 0.5 * 5 MHz * {0, 1, 5} cm
    half = bmode.tgc_gain_db(depth, attenuation_db_cm_mhz=0.5, center_frequency=5e6, compensation=0.5)
    np.testing.assert_allclose(half, [0.0, 2.5, 12.5])
    with pytest.raises(UsageError):
        bmode.tgc_gain_db(depth, attenuation_db_cm_mhz=0.5, center_frequency=0.0)


def test_tgc_points_are_piecewise_linear_and_constant_beyond_the_ends():
    points = [(10, 0.0), (30, 20.0), (50, 10.0)]
    depth = np.array([0.0, 0.010, 0.020, 0.030, 0.040, 0.050, 0.080])
    np.testing.assert_allclose(bmode.tgc_from_points(depth, points), [0, 0, 10, 20, 15, 10, 10])
    with pytest.raises(UsageError, match="increase"):
        bmode.tgc_from_points(depth, [(30, 0.0), (10, 5.0)])


def test_apply_tgc_along_samples_and_per_value():
    env = np.ones((3, 4))
    np.testing.assert_allclose(bmode.apply_tgc(env, [0, 20, 40, -20]), np.tile([1, 10, 100, 0.1], (3, 1)))
    per_value = np.full((3, 4), 6.0)
    np.testing.assert_allclose(bmode.apply_tgc(env, per_value), 10 ** 0.3)
    with pytest.raises(UsageError, match="shape"):
        bmode.apply_tgc(env, np.zeros(3))


def test_log_compress_maps_reference_to_255_and_bottom_of_range_to_0():
    ref, dr = 2.0, 50.0
    env = np.array([[ref, ref * 10 ** (-dr / 20), ref * 10 ** (-dr / 40), 10 * ref, 0.0]])
    image = bmode.log_compress(env, reference=ref, dynamic_range_db=dr)
    assert image.dtype == np.uint8
    assert image[0, 0] == 255 and image[0, 1] == 0 and image[0, 3] == 255 and image[0, 4] == 0
    assert abs(int(image[0, 2]) - 127.5) <= 0.5
    brighter = bmode.log_compress(env, reference=ref, dynamic_range_db=dr, gain_db=dr / 2)
    assert brighter[0, 1] in (127, 128) and brighter[0, 2] == 255


def test_log_compress_does_not_depend_on_the_image_maximum():
    env = np.random.default_rng(1).rayleigh(1.0, (16, 64))
    before = bmode.log_compress(env, reference=3.0)
    env[5, 7] *= 1000.0
    after = bmode.log_compress(env, reference=3.0)
    others = np.ones(env.shape, bool)
    others[5, 7] = False
    np.testing.assert_array_equal(after[others], before[others])
    assert 0 < before.mean() < 255  # a real image, not all black or all white


@pytest.mark.parametrize("kwargs", [dict(reference=0.0), dict(reference=-1.0), dict(reference=np.nan),
                                    dict(reference=np.inf), dict(reference=1.0, dynamic_range_db=0.0),
                                    dict(reference=1.0, dynamic_range_db=-40.0)])
def test_log_compress_refuses_bad_reference_or_dynamic_range(kwargs):
    with pytest.raises(UsageError) as caught:
        bmode.log_compress(np.ones((2, 2)), **kwargs)
    message = str(caught.value)
    assert "\n" not in message and ("reference" in message or "dynamic range" in message)
