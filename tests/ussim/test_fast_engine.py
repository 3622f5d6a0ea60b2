"""The fast engine (ussim.fast, ussim.psf) against the full engine on small IVUS scenes.

Cheap by design: an IVUS probe imaging 2.6 mm beyond its catheter (250 samples a line), 128 lines.
The element's near field (the first 0.5 mm beyond the catheter) has a test of its own on 256 lines,
where a point's echo peaks several lines aside. The full-size agreement on both organs' 256 x 256
phantoms is bench/fast_engine.py's (results in bench/RESULTS.md, "Fast engine").
"""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from ussim import cli, dataset, engine, fast, measure, probe, psf, scan, scatter, simulate
from ussim.errors import UsageError

IVUS = probe.load("ivus-20")
LINES = 128  # the beam is 1-2 lines wide: fewer lines under-sample it (cubic splat loses 1 dB at 64)
SETTINGS = dict(n_lines=LINES, depth=2.6e-3, shape=(48, 48), device="cpu", progress=False)
SMALL_BANK = psf.DEFAULTS
NEAR_FIELD = 32  # samples (0.5 mm beyond the catheter surface): test_near_field_brightness_agrees


@pytest.fixture
def small_bank(tmp_path, monkeypatch):
    monkeypatch.setenv("USSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(psf, "DEFAULTS", SMALL_BANK)
    monkeypatch.setattr(psf, "_MEMORY", {})
    return tmp_path / "cache" / "psf"


def _speckle(seed, thickness=None):
    """A ring of tissue around the catheter, 0.9 to 3.2 mm from its centre."""
    rng = np.random.default_rng(seed)
    n = 18000
    r = np.sqrt(rng.uniform(0.9e-3 ** 2, 3.2e-3 ** 2, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    y = rng.uniform(-1, 1, n) * (thickness or 3 * scatter.resolution_cell(IVUS)[2]) / 2
    return engine.Scatterers(r * np.sin(angle), y, r * np.cos(angle), rng.standard_normal(n))


def test_speckle_and_brightness_agree_with_the_full_engine(small_bank):
    cloud = _speckle(3)
    full = simulate.simulate(cloud, IVUS, engine="full", **SETTINGS)
    quick = simulate.simulate(cloud, IVUS, engine="fast", **SETTINGS)
    assert quick.channels is None and quick.params["engine"] == "fast"
    assert quick.beamformed.lines.shape == full.beamformed.lines.shape
    samples = slice(NEAR_FIELD, 240)  # inside the ring, clear of its edges (250 samples a line)
    stats = [measure.speckle_statistics(np.abs(s.beamformed.lines[:, samples])) for s in (full, quick)]
    assert abs(stats[0]["mean_over_std"] - stats[1]["mean_over_std"]) < 0.05
    assert abs(stats[0]["nakagami_m"] - stats[1]["nakagami_m"]) < 0.1
    # the same scatterers: the fast image is the full one, not merely alike
    correlation = np.corrcoef(np.abs(full.beamformed.lines[:, samples]).ravel(),
                              np.abs(quick.beamformed.lines[:, samples]).ravel())[0, 1]
    assert correlation > 0.9
    for band in np.array_split(np.arange(NEAR_FIELD, 240), 4):  # mean log brightness against depth
        levels = [np.mean(20 * np.log10(np.abs(s.beamformed.lines[:, band]) + 1e-30)) for s in (full, quick)]
        assert abs(levels[0] - levels[1]) < 1.0
    # the same beam grid and display grid, through the same scan conversion and display code
    assert np.array_equal(scan.imaged_mask(quick.beamformed.geometry, quick.grid),
                          scan.imaged_mask(full.beamformed.geometry, full.grid))
    assert np.array_equal(quick.grid.x, full.grid.x) and quick.bmode.dtype == full.bmode.dtype


def test_near_field_brightness_agrees(small_bank):
    """Speckle from the dead zone to 0.8 mm beyond it, on the 256 lines of the demo's IVUS turn: there
    a point's echo peaks 3-6 lines aside, up to 1.3x its on-line peak. Kernels divided by that
    maximum (rather than by the peak where the gain is read) made this band 1.4-2.2 dB dark."""
    rng = np.random.default_rng(4)
    n = 12000
    r = np.sqrt(rng.uniform(0.55e-3 ** 2, 1.5e-3 ** 2, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    y = rng.uniform(-1, 1, n) * 3 * scatter.resolution_cell(IVUS)[2] / 2
    cloud = engine.Scatterers(r * np.sin(angle), y, r * np.cos(angle), rng.standard_normal(n))
    settings = {**SETTINGS, "n_lines": 256, "depth": 1.0e-3}
    full, quick = (simulate.simulate(cloud, IVUS, engine=name, **settings).beamformed.lines for name in ("full", "fast"))
    for band in np.array_split(np.arange(full.shape[1] - 8), 6):  # 8 samples clear of the cloud's far edge
        levels = [np.mean(20 * np.log10(np.abs(lines[:, band]) + 1e-30)) for lines in (full, quick)]
        assert abs(levels[1] - levels[0]) < 0.75, (band[0], levels)


def test_point_widths_agree_at_three_depths(small_bank):
    radii = [1.2e-3, 1.9e-3, 2.7e-3]  # from the catheter centre: samples 52, 125, 208
    angle = 2 * np.pi * (LINES // 2 + 0.3) / LINES  # between two lines
    points = engine.Scatterers([r * np.sin(angle) for r in radii], [0.0] * 3, [r * np.cos(angle) for r in radii],
                               [1.0] * 3)
    along = simulate.radii_for(simulate.resolve(simulate.Settings(depth=2.6e-3, scheme="ivus", n_lines=LINES), IVUS,
                                                points), IVUS)
    step = float(along[1] - along[0])
    lines = {name: np.abs(simulate.simulate(points, IVUS, engine=name, **SETTINGS).beamformed.lines)
             for name in ("full", "fast")}
    first = IVUS.dead_zone - IVUS.catheter_radius
    for r in radii:
        sample = int(round((r - IVUS.catheter_radius - first) / step))
        window = slice(sample - 12, sample + 13)
        for axis in (0, 1):  # across the lines, then along them
            widths = []
            for envelope in lines.values():
                part = envelope[:, window]
                line, peak = np.unravel_index(part.argmax(), part.shape)
                widths.append(measure.fwhm(part[:, peak] if axis == 0 else part[line], 1.0))
            assert abs(widths[1] - widths[0]) <= 0.1 * widths[0], (r, axis, widths)


def test_bank_is_cached_on_disk_and_keyed_by_the_physics_sources(small_bank, monkeypatch):
    cloud = _speckle(1)
    simulate.simulate(cloud, IVUS, engine="fast", **SETTINGS)
    stored = sorted(p.name for p in small_bank.iterdir())
    # written whole (no temporary file left), beside the lock its measurement held
    assert len(stored) == 2 and stored[0].endswith(".npz") and stored[1] == stored[0] + ".lock"
    monkeypatch.setattr(psf, "_MEMORY", {})
    again = simulate.simulate(cloud, IVUS, engine="fast", **SETTINGS)
    assert sorted(p.name for p in small_bank.iterdir()) == stored
    resolved = simulate.resolve(dataclasses.replace(simulate.Settings(), n_lines=LINES, depth=2.6e-3), IVUS, cloud)
    radii = simulate.radii_for(resolved, IVUS)
    geometry = again.beamformed.geometry
    before = psf.key(IVUS, resolved, geometry, radii, SMALL_BANK)
    monkeypatch.setattr(psf, "source_digest", lambda: "another engine.py")
    assert psf.key(IVUS, resolved, geometry, radii, SMALL_BANK) != before
    assert psf.key(IVUS, dataclasses.replace(resolved, rx_f_number=2.5), geometry, radii, SMALL_BANK) != before


MEASURE_ONCE = """
import sys, time
from pathlib import Path
from tests.ussim import test_fast_engine as t
from ussim import psf, simulate
measure = psf.measure
def slow_measure(*args, **kwargs):
    print("measured", flush=True)
    time.sleep(2)  # long enough that the other process asks for the bank while this one measures it
    return measure(*args, **kwargs)
psf.measure = slow_measure
folder, index = Path(sys.argv[1]), sys.argv[2]
(folder / f"ready-{index}").touch()
while len(list(folder.glob("ready-*"))) < 2:  # both ask for the bank at the same moment
    time.sleep(0.01)
simulate.simulate(t._speckle(1), t.IVUS, engine="fast", **t.SETTINGS)
"""


def test_processes_that_need_the_same_bank_measure_it_once(tmp_path):
    """Two processes (e.g. two `ussim dataset` workers) asking for one bank at the same moment: one
    measures it, the other waits for it and reads it from the disk cache."""
    env = {**os.environ, "USSIM_CACHE": str(tmp_path / "cache")}
    runs = [subprocess.Popen([sys.executable, "-c", MEASURE_ONCE, str(tmp_path), str(i)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sum(out.count("measured") for out, _ in outputs) == 1
    assert len(list((tmp_path / "cache" / "psf").glob("*.npz"))) == 1


def test_torch_path_matches_numpy(small_bank):
    pytest.importorskip("torch")
    cloud = _speckle(2)
    settings = simulate.resolve(dataclasses.replace(simulate.Settings(), n_lines=LINES, depth=2.6e-3), IVUS, cloud)
    events, radii = simulate.events_for(settings, IVUS), simulate.radii_for(settings, IVUS)
    from ussim import beamform
    geometry = beamform.line_geometry(events, IVUS, radii)
    by = {backend: fast.beamformed(cloud, IVUS, settings, events, radii, geometry, device="cpu", backend=backend).lines
          for backend in fast.BACKENDS}
    # DECISION: the stated tolerance of the GPU path: 1e-4 of the largest value (float32 FFTs)
    assert np.max(np.abs(by["torch"] - by["numpy"])) <= 1e-4 * np.max(np.abs(by["numpy"]))


def test_engine_choice_is_checked(capsys):
    with pytest.raises(UsageError, match="unknown engine 'quick'"):
        simulate.simulate(_speckle(0), IVUS, engine="quick", **SETTINGS)
    with pytest.raises(UsageError, match="unknown fast-engine backend"):
        fast.beamformed(_speckle(0), IVUS, None, [], np.arange(3.0), None, backend="cupy")
    full, quick = (dataset.plan("ivus", 8, size=64, engine=name)[0].name for name in ("full", "fast"))
    assert full != quick  # a shard of one engine is never reused for the other
    with pytest.raises(SystemExit) as stopped:
        cli.main(["dataset", "--organ", "ivus", "--n", "1", "--out", "x.h5", "--engine", "quick"])
    message = capsys.readouterr().err
    assert stopped.value.code == 2 and "--engine" in message and "'quick'" in message and "full" in message


def test_elevation_factor_matches_scipy_interpolation():
    """The compiled elevation factor reads the height-aperture table as scipy's
    RegularGridInterpolator does (linear, held at the table's edges)."""
    from scipy import interpolate

    from ussim import aperture
    rng = np.random.default_rng(1)
    n = 2000
    in_plane = rng.uniform(0.05e-3, 3e-3, n)
    y = rng.uniform(-0.3e-3, 0.3e-3, n)
    distance = np.sqrt(in_plane ** 2 + y ** 2)
    got = fast.elevation_factor(IVUS, in_plane, distance, y)
    shortest = probe.SPEED_OF_SOUND / (IVUS.center_frequency * (1 + IVUS.bandwidth))
    r_max = np.ceil(distance.max() / aperture.RANGE_STEP) * aperture.RANGE_STEP
    u_max = aperture.sine_extent(float(np.abs(y).max()), max(float(in_plane.min()), IVUS.wavelength))
    table = aperture.table(IVUS.height, IVUS.elevation_focus, IVUS.center_frequency, shortest, r_max, u_max,
                           probe.SPEED_OF_SOUND)
    nodes = (table.r0 + table.dr * np.arange(table.values.shape[0]), table.u0 + table.du * np.arange(table.values.shape[1]))
    lookup = interpolate.RegularGridInterpolator(nodes, table.values.astype(np.complex128))
    r = np.clip(distance, nodes[0][0], nodes[0][-1])
    u = np.clip(y / np.maximum(distance, shortest), nodes[1][0], nodes[1][-1])
    off, on = lookup(np.column_stack([r, u])), lookup(np.column_stack([r, np.zeros(n)]))
    expected = (off / on * in_plane / distance) ** 2
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert np.all(fast.elevation_factor(IVUS, in_plane, in_plane, np.zeros(n)) == 1)  # in the plane: no change


def test_scatterers_beyond_the_grid_give_an_empty_image(small_bank):
    """No scatterer reaches the beam grid (all beyond the depth): empty lines, as the full engine's."""
    r = 3.5e-3  # beyond the 2.6 mm imaged
    cloud = engine.Scatterers([0.0, r], [0.0, 0.0], [r, 0.0], [1.0, 1.0])
    quick = simulate.simulate(cloud, IVUS, engine="fast", **SETTINGS)
    assert not np.abs(quick.beamformed.lines).any()
