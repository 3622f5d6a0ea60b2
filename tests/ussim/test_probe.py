import math
from importlib import resources

import numpy as np
import pytest

from ussim import probe
from ussim.errors import UsageError


def test_presets_cover_the_required_probes():
    names = probe.preset_names()
    assert {"linear-7.6", "convex-tv-7.5", "phased-2.7", "ivus-20", "ivus-40"} <= set(names)
    linear = probe.load("linear-7.6")
    assert (linear.kind, linear.n_elements) == ("linear", 128)
    assert linear.center_frequency == pytest.approx(7.6e6, rel=0.05) and linear.pitch == pytest.approx(0.3e-3)
    convex = probe.load("convex-tv-7.5")
    assert convex.kind == "convex" and convex.center_frequency == pytest.approx(7.5e6, rel=0.05)
    assert convex.radius < 20e-3 and np.rad2deg(np.ptp(convex.element_positions()[2])) > 120  # wide field of view
    assert probe.load("phased-2.7").kind == "phased"
    for name, fc in (("ivus-20", 20e6), ("ivus-40", 40e6)):
        ivus = probe.load(name)
        assert ivus.kind == "ivus" and ivus.n_elements == 1 and ivus.center_frequency == fc
        assert 256 <= ivus.lines_per_turn <= 512 and ivus.catheter_radius > 0 and ivus.dead_zone >= ivus.catheter_radius
    for name in names:
        p = probe.load(name)
        assert p.sampling_frequency >= 4 * p.center_frequency
        assert p.width > 0 and p.kerf >= 0 and p.height > 0 and p.elevation_focus > 0


def test_geometry_of_arrays():
    x, z, angle = probe.load("linear-7.6").element_positions()
    assert np.allclose(np.diff(x), 0.3e-3) and np.all(z == 0) and x.mean() == pytest.approx(0)
    convex = probe.load("convex-tv-7.5")
    x, z, angle = convex.element_positions()
    assert np.allclose(np.hypot(x, z + convex.radius), convex.radius)
    assert np.allclose(np.diff(angle) * convex.radius, convex.pitch)
    ex, ez, normal = probe.load("ivus-20").ivus_element([0.0, math.pi / 2])
    assert np.allclose(ex, [0, 0.5e-3]) and np.allclose(ez, [0.5e-3, 0], atol=1e-12)


def test_load_by_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(resources.files("ussim_data").joinpath("probes/linear-7.6.toml").read_text()
                    .replace('name = "linear-7.6"', 'name = "mine"'))
    assert probe.load(path).name == "mine"


BASE = dict(name="p", kind="linear", center_frequency_mhz=5.0, bandwidth=0.6, n_elements=64, pitch_mm=0.3,
            kerf_mm=0.03, height_mm=5.0, elevation_focus_mm=20.0, sampling_frequency_mhz=20.0)


@pytest.mark.parametrize("change, message", [
    (dict(center_frequency_mhz=0.0), "centre frequency 0 MHz"),
    (dict(center_frequency_mhz=-3.0), "centre frequency -3 MHz"),
    (dict(sampling_frequency_mhz=15.0), "sampling frequency 15 MHz (must be at least 4 fc = 20 MHz)"),
    (dict(n_elements=0), "0 elements"),
    (dict(bandwidth=2.5), "bandwidth 2.5"),
    (dict(kerf_mm=0.4), "kerf"),
    (dict(kind="matrix"), "kind 'matrix'"),
    (dict(radius_mm=-1.0, kind="convex"), "convex radius"),
    (dict(colour="red"), "unknown key(s) colour"),
])
def test_bad_probes_name_the_value(change, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        probe.from_table({**BASE, **change})


def test_unknown_names_and_files():
    with pytest.raises(UsageError, match="unknown probe 'nope'.*linear-7.6"):
        probe.load("nope")
    with pytest.raises(UsageError, match="does not exist"):
        probe.load("/tmp/absent-probe.toml")
