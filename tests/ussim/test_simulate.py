from dataclasses import replace

import numpy as np
import pytest

from ussim import bmode, engine, probe, scan, scatter, simulate, transmit
from ussim.errors import UsageError


def _ring(radius_lo, radius_hi, n, seed=0, centre_z=0.0):
    rng = np.random.default_rng(seed)
    r = np.sqrt(rng.uniform(radius_lo ** 2, radius_hi ** 2, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    return engine.Scatterers(r * np.sin(angle), rng.uniform(-2e-4, 2e-4, n), centre_z + r * np.cos(angle),
                             rng.standard_normal(n))


def test_ivus_image_is_radial_with_a_black_dead_zone():
    ivus = probe.load("ivus-40")
    sim = simulate.simulate(_ring(0.7e-3, 2.5e-3, 3000), ivus, n_lines=64, shape=(64, 64), device="cpu",
                            progress=False)
    assert sim.bmode.shape == (64, 64) and sim.bmode.dtype == np.uint8
    x, z = np.meshgrid(sim.grid.x, sim.grid.z)
    radius = np.hypot(x, z)
    assert sim.bmode[radius < ivus.dead_zone].max() == 0
    assert sim.bmode[(radius > 1.2e-3) & (radius < 2.2e-3)].mean() > 40  # tissue shows, all around
    quadrants = [sim.bmode[(radius > 1.2e-3) & (radius < 2.2e-3) & (np.sign(x) == sx) & (np.sign(z) == sz)].mean()
                 for sx in (-1, 1) for sz in (-1, 1)]
    assert min(quadrants) > 0.5 * max(quadrants)


@pytest.mark.parametrize("name, scheme", [("convex-tv-7.5", "focused"), ("convex-tv-7.5", "diverging"),
                                          ("phased-2.7", "focused")])
def test_sector_probes_image_a_scatterer_cloud(name, scheme):
    p = probe.load(name)
    cloud = scatter.homogeneous_box(p, (-3e-3, 3e-3), (8e-3, 14e-3), per_cell=2, seed=1)
    sim = simulate.simulate(cloud, p, scheme=scheme, n_lines=24, depth=16e-3, shape=(48, 48), device="cpu",
                            progress=False)
    x, z = np.meshgrid(sim.grid.x, sim.grid.z)
    inside = (np.abs(x) < 2e-3) & (z > 9e-3) & (z < 13e-3)
    outside = (np.abs(x) > 5e-3) | (z < 5e-3)
    assert sim.bmode[inside].mean() > sim.bmode[outside].mean() + 30
    assert sim.params["probe"]["name"] == name and sim.params["scatterers"] == len(cloud)


def test_log_compression_uses_a_fixed_reference():
    p = probe.load("linear-7.6")
    cloud = scatter.homogeneous_box(p, (-2e-3, 2e-3), (8e-3, 12e-3), per_cell=3, seed=4)
    louder = engine.Scatterers(cloud.x, cloud.y, cloud.z, 2 * cloud.amplitude)
    settings = dict(line_positions=tuple(np.linspace(-1.5e-3, 1.5e-3, 16)), depth=12e-3, focus=10e-3,
                    dynamic_range_db=60.0, shape=(32, 32), device="cpu", progress=False)
    quiet = simulate.simulate(cloud, p, **settings)
    loud = simulate.simulate(louder, p, **settings)
    assert quiet.params["settings"]["reference"] == loud.params["settings"]["reference"]
    region = quiet.bmode > 20
    shift = loud.bmode[region].astype(float) - quiet.bmode[region]
    assert np.median(shift) == pytest.approx(20 * np.log10(2) / 60 * 255, abs=1.0)  # +6 dB, not renormalised


def test_settings_errors():
    point = engine.Scatterers([0.0], [0.0], [1e-2], [1.0])
    with pytest.raises(UsageError, match="unknown simulation setting"):
        simulate.simulate(point, "linear-7.6", colour="red", device="cpu")
    with pytest.raises(UsageError, match="scheme 'plane' does not suit a ivus probe"):
        simulate.simulate(point, "ivus-20", scheme="plane", device="cpu")
    with pytest.raises(UsageError, match="scheme 'plane' does not suit a convex probe"):
        simulate.simulate(point, "convex-tv-7.5", scheme="plane", device="cpu")
    with pytest.raises(UsageError, match="unknown probe"):
        simulate.simulate(point, "linear-99", device="cpu")


def test_a_focused_line_beyond_a_convex_array_fires_its_nearest_element():
    p = probe.load("convex-tv-7.5")
    _, _, angle = p.element_positions()
    beyond = float(angle[-1]) + np.deg2rad(45.0)  # 7.9 mm along the arc past the last element
    event = transmit.focused_lines(p, 1, 0.02, positions=[beyond])[0]
    assert list(event.tx) == [p.n_elements - 1] and np.isfinite(event.delays).all()


@pytest.mark.parametrize("engine_name", ["full", "fast"])
def test_receiver_noise_has_its_level_its_seed_and_lifts_an_empty_field(engine_name):
    ivus = probe.load("ivus-40")
    point = engine.Scatterers([0.0], [0.0], [1.5e-3], [1.0])  # one echo; the rest of the field is empty
    common = dict(n_lines=32, shape=(32, 32), device="cpu", progress=False, engine=engine_name, tgc=False)
    quiet = simulate.simulate(point, ivus, **common)
    noisy = simulate.simulate(point, ivus, noise_db=-40.0, noise_seed=1, **common)
    again = simulate.simulate(point, ivus, noise_db=-40.0, noise_seed=1, **common)
    other = simulate.simulate(point, ivus, noise_db=-40.0, noise_seed=2, **common)
    reference = noisy.params["settings"]["reference"]
    empty = quiet.envelope < 1e-6 * quiet.envelope.max()   # samples no echo reaches
    assert empty.mean() > 0.5
    measured_db = 10 * np.log10(np.mean(noisy.envelope[empty].astype(np.float64) ** 2) / reference ** 2)
    assert measured_db == pytest.approx(-40.0, abs=0.3)    # the RMS asked for, re the fixed reference
    assert np.array_equal(noisy.envelope, again.envelope) and not np.array_equal(noisy.envelope, other.envelope)
    np.testing.assert_array_equal(noisy.beamformed.lines, quiet.beamformed.lines)  # the echoes stay noise-free
    with pytest.raises(UsageError, match="noise_db"):
        simulate.simulate(point, ivus, noise_db=float("nan"), **common)


def test_the_floor_noise_reads_one_level_at_every_depth_after_the_tgc_the_receiver_noise_rises_with_it():
    """The digitiser's noise (floor_noise_db) enters after the nominal TGC: on lines of no echo its
    envelope after detect holds its RMS at every depth, where the receiver noise's rises by the TGC."""
    linear = probe.load("linear-7.6")
    settings = simulate.Settings(scheme="focused", depth=40e-3, n_lines=64, focus=10e-3, tgc_compensation=1.0)
    radii = simulate.radii_for(settings, linear)
    shape = (64, radii.size)
    geometry = scan.LinearLines(x=np.linspace(-1e-3, 1e-3, 64), z=radii)
    grid = scan.DisplayGrid.covering(-1e-3, 1e-3, float(radii[0]), float(radii[-1]), (16, 4))
    nominal = bmode.tgc_gain_db(radii, attenuation_db_cm_mhz=0.5, center_frequency=linear.center_frequency)
    assert nominal[-1] > 25  # 40 mm at 7.6 MHz: the two noises part by far more than the tolerance
    near, far = slice(0, radii.size // 4), slice(-radii.size // 4, None)

    def level_db(noise, part):  # the mean power of the envelope after detect's TGC, dB re the reference 1
        envelope, _ = simulate.detect(noise, geometry, settings, linear, grid)
        return 10 * np.log10(np.mean(envelope[:, part].astype(np.float64) ** 2))

    floor = simulate.floor_noise(shape, replace(settings, floor_noise_db=-30.0), 1.0, linear)
    assert level_db(floor, near) == pytest.approx(-30.0, abs=0.3)
    assert level_db(floor, far) == pytest.approx(-30.0, abs=0.3)
    receiver = simulate.receiver_noise(shape, replace(settings, noise_db=-30.0), 1.0)
    rise = level_db(receiver, far) - level_db(receiver, near)
    expected = 10 * np.log10(np.mean(10 ** (nominal[far] / 10)) / np.mean(10 ** (nominal[near] / 10)))
    assert rise == pytest.approx(expected, abs=0.3)
    both = simulate.line_noise(shape, replace(settings, noise_db=-30.0, floor_noise_db=-30.0, noise_seed=0), 1.0, linear)
    np.testing.assert_array_equal(both, floor + receiver)  # each its own stream of the one seed
    assert simulate.floor_noise(shape, settings, 1.0, linear) == 0.0
    with pytest.raises(UsageError, match="floor_noise_db nan"):
        simulate.resolve(replace(settings, floor_noise_db=float("nan")), linear, None)


def test_the_tgc_makes_up_the_settings_share_of_the_nominal_attenuation():
    linear = probe.load("linear-7.6")
    settings = simulate.Settings(scheme="focused", depth=20e-3, n_lines=4, focus=10e-3)
    radii = simulate.radii_for(settings, linear)
    lines = np.ones((4, radii.size), np.complex64)
    geometry = scan.LinearLines(x=np.linspace(-1e-3, 1e-3, 4), z=radii)
    grid = scan.DisplayGrid.covering(-1e-3, 1e-3, float(radii[0]), float(radii[-1]), (16, 4))
    full, _ = simulate.detect(lines, geometry, settings, linear, grid)
    part, _ = simulate.detect(lines, geometry, replace(settings, tgc_compensation=0.4), linear, grid)
    nominal = bmode.tgc_gain_db(radii, attenuation_db_cm_mhz=0.5, center_frequency=linear.center_frequency)
    np.testing.assert_allclose(20 * np.log10(full[0] / part[0]), 0.6 * nominal, atol=1e-3)
    assert nominal[-1] > 10  # 20 mm at 7.6 MHz: the shares differ by more than the tolerance
    with pytest.raises(UsageError, match="tgc_compensation -0.5 .allowed: a finite share >= 0"):
        simulate.resolve(replace(settings, tgc_compensation=-0.5), linear, None)
