import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from ussim import aperture, engine, probe, transmit
from ussim.errors import UsageError

LINEAR = probe.load("linear-7.6")
TINY = dict(name="tiny", kind="linear", center_frequency_mhz=5.0, bandwidth=0.7, n_elements=8, pitch_mm=0.3,
            kerf_mm=0.03, height_mm=2.0, elevation_focus_mm=15.0, sampling_frequency_mhz=20.0)
# DECISION: the stated CPU/GPU tolerance. Both kernels round each echo to the same fine-grid
# sample (same float32 operation order); only the order of the float32 sums differs.
CPU_GPU_TOLERANCE = 1e-5  # max |RF_cpu - RF_gpu| / max |RF_cpu|

EQUIVALENCE = """
import json, sys, numpy as np
from ussim import engine, probe, transmit
p = probe.from_table(json.loads(sys.argv[1]))
rng = np.random.default_rng(3)
n = 6
scatterers = engine.Scatterers(rng.uniform(-2e-3, 2e-3, n), rng.uniform(-3e-4, 3e-4, n), rng.uniform(4e-3, 8e-3, n),
                               rng.standard_normal(n))
events = transmit.focused_lines(p, 2, 6e-3, f_number=1.0) + transmit.plane_waves(p, [0.1])
cpu = engine.simulate_channels(scatterers, p, events, device="cpu", progress=False).rf
gpu = engine.simulate_channels(scatterers, p, events, device="cuda", progress=False).rf
ivus = probe.load("ivus-40")  # the monostatic kernel: a turn of 16 A-lines around the catheter
ring = engine.Scatterers(scatterers.x, scatterers.y, scatterers.z - 6e-3, scatterers.amplitude)
turn = transmit.ivus_lines(ivus, 16)
cpu_turn = engine.simulate_channels(ring, ivus, turn, device="cpu", progress=False).rf
gpu_turn = engine.simulate_channels(ring, ivus, turn, device="cuda", progress=False).rf
difference = max(np.abs(cpu - gpu).max() / np.abs(cpu).max(),
                 np.abs(cpu_turn - gpu_turn).max() / np.abs(cpu_turn).max())
print(json.dumps({"difference": float(difference), "peak": float(min(np.abs(cpu).max(), np.abs(cpu_turn).max()))}))
"""


def test_cuda_kernel_matches_cpu_under_the_simulator():
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(EQUIVALENCE), json.dumps(TINY)],
                            env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["peak"] > 0 and measured["difference"] <= CPU_GPU_TOLERANCE


def test_auto_device_is_cpu_without_a_gpu():
    from numba import cuda
    expected = "cuda" if cuda.is_available() else "cpu"
    assert engine.resolve_device("auto") == expected
    if expected == "cpu":
        with pytest.raises(UsageError, match="no CUDA GPU"):
            engine.resolve_device("cuda")
    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        engine.resolve_device("tpu")


@pytest.mark.parametrize("arrays, message", [
    (([], [], [], []), "no scatterers"),
    (([0.0, np.nan], [0, 0], [1e-2, 1e-2], [1, 1]), "finite"),
    (([0.0], [0.0, 1.0], [1e-2], [1.0]), "differ in length"),
])
def test_bad_scatterers(arrays, message):
    with pytest.raises(UsageError, match=message):
        engine.Scatterers(*arrays)


def test_bad_simulation_inputs():
    point = engine.Scatterers([0.0], [0.0], [1e-2], [1.0])
    events = transmit.plane_waves(LINEAR, [0.0])
    with pytest.raises(UsageError, match="must not be negative"):
        engine.simulate_channels(point, LINEAR, events, attenuation_db_cm_mhz=-1, device="cpu")
    with pytest.raises(UsageError, match="no transmit events"):
        engine.simulate_channels(point, LINEAR, [], device="cpu")
    events[0].delays = events[0].delays - 1e-6
    with pytest.raises(UsageError, match="delays must not be negative"):
        engine.simulate_channels(point, LINEAR, events, device="cpu")


def test_echo_arrives_at_the_round_trip_time():
    depth = 12e-3
    point = engine.Scatterers([0.0], [0.0], [depth], [1.0])
    events = transmit.plane_waves(LINEAR, [0.0])
    data = engine.simulate_channels(point, LINEAR, events, attenuation_db_cm_mhz=0.0, device="cpu", progress=False)
    centre = LINEAR.n_elements // 2
    from scipy.signal import hilbert
    envelope = np.abs(hilbert(data.rf[0, centre]))
    distance = np.hypot(LINEAR.element_positions()[0][centre], depth)
    assert np.argmax(envelope) / data.sampling_frequency == pytest.approx((depth + distance) / 1540, abs=1.5e-8)


def test_aperture_table_is_one_at_the_elevation_focus():
    table = aperture.table(5e-3, 18e-3, 7.6e6, 1540 / 13e6, 0.04, 0.25, 1540.0)
    i = round((18e-3 - table.r0) / table.dr)
    k = round((0 - table.u0) / table.du)
    assert abs(table.values[i, k]) == pytest.approx(1.0, abs=0.02)
    assert abs(table.values[i, 0]) < 0.3  # off the elevation beam at the focus


def test_steered_plane_waves_focus_on_the_point_and_compound_by_summation():
    from ussim import beamform
    point = engine.Scatterers([1e-3], [0.0], [15e-3], [1.0])
    angles = np.deg2rad([-10.0, 0.0, 10.0])
    events = transmit.plane_waves(LINEAR, angles)
    data = engine.simulate_channels(point, LINEAR, events, attenuation_db_cm_mhz=0.0, device="cpu", progress=False)
    xs, depths = np.linspace(0, 2e-3, 81), np.linspace(14e-3, 16e-3, 401)
    singles = []
    for index, event in enumerate(events):
        one = engine.ChannelData(data.rf[index: index + 1], data.sampling_frequency, data.t0)
        lines = beamform.beamform(one, [event], LINEAR, depths, line_x=xs).lines
        line, sample = np.unravel_index(np.abs(lines).argmax(), lines.shape)
        assert xs[line] == pytest.approx(1e-3, abs=30e-6) and depths[sample] == pytest.approx(15e-3, abs=10e-6)
        singles.append(lines)
    compounded = beamform.beamform(data, events, LINEAR, depths, line_x=xs).lines
    np.testing.assert_allclose(compounded, sum(singles), rtol=1e-4, atol=1e-4 * np.abs(compounded).max())


def test_a_turn_of_a_lines_runs_as_one_pass_equal_to_line_by_line():
    ivus = probe.load("ivus-40")
    rng = np.random.default_rng(0)
    radius, angle = rng.uniform(0.6e-3, 3e-3, 2000), rng.uniform(0, 2 * np.pi, 2000)
    ring = engine.Scatterers(radius * np.sin(angle), rng.uniform(-1e-4, 1e-4, 2000), radius * np.cos(angle),
                             rng.standard_normal(2000))
    events = transmit.ivus_lines(ivus, 32)
    turn = engine.simulate_channels(ring, ivus, events, device="cpu", progress=False)
    assert turn.rf.shape[:2] == (32, 1)
    for index in (0, 9, 23):
        alone = engine.simulate_channels(ring, ivus, [events[index]], device="cpu", progress=False,
                                         t_max=turn.rf.shape[-1] / ivus.sampling_frequency).rf[0, 0]
        n = min(alone.size, turn.rf.shape[-1])
        assert np.abs(alone[:n] - turn.rf[index, 0, :n]).max() <= 1e-5 * np.abs(turn.rf[index]).max()


def test_convex_diverging_wave_focuses_points_across_the_sector():
    from ussim import beamform
    convex = probe.load("convex-tv-7.5")
    points = [(0.0, 25e-3), (10e-3, 20e-3), (-15e-3, 12e-3)]
    cloud = engine.Scatterers([p[0] for p in points], [0.0] * 3, [p[1] for p in points], [1.0] * 3)
    events = transmit.diverging_wave(convex)
    data = engine.simulate_channels(cloud, convex, events, attenuation_db_cm_mhz=0.0, device="cpu", progress=False)
    for x, z in points:
        angle = np.arctan2(x, z + convex.radius)
        depth = np.hypot(x, z + convex.radius) - convex.radius
        angles, radii = angle + np.linspace(-0.02, 0.02, 41), np.linspace(depth - 1e-3, depth + 1e-3, 401)
        envelope = np.abs(beamform.beamform(data, events, convex, radii, line_angles=angles).lines)
        line, sample = np.unravel_index(envelope.argmax(), envelope.shape)
        assert angles[line] == pytest.approx(angle, abs=1.1e-3) and radii[sample] == pytest.approx(depth, abs=10e-6)
    with pytest.raises(UsageError, match="needs a convex array"):
        transmit.diverging_wave(LINEAR)


@pytest.mark.parametrize("fill", [0.8, 0.02])
def test_decimated_convolution_equals_numpy_on_dense_and_sparse_rows(fill):
    """Both paths of the kernel (gather for dense rows, polyphase scatter for sparse ones)
    give every step-th sample of the full convolution, restricted to acc[:, lo:hi]."""
    from ussim.kernels import cpu
    rng = np.random.default_rng(3)
    acc = np.zeros((4, 900), np.complex64)
    filled = rng.random(acc.shape) < fill
    acc[filled] = (rng.standard_normal(filled.sum()) + 1j * rng.standard_normal(filled.sum())).astype(np.complex64)
    g = (rng.standard_normal(45) + 1j * rng.standard_normal(45)).astype(np.complex64)
    centre, step, lo, hi = 22, 8, 50, 850
    out = np.zeros((4, 130), np.complex64)
    cpu.add_decimated_convolution(acc, lo, hi, g, centre, step, out)
    inside = np.zeros_like(acc)
    inside[:, lo:hi] = acc[:, lo:hi]
    expected = np.stack([np.convolve(row, g.astype(np.complex128))[centre::step] for row in inside])
    n = min(expected.shape[1], out.shape[1])
    assert np.abs(out[:, :n] - expected[:, :n]).max() < 1e-5 * np.abs(expected).max()
    assert not out[:, n:].any()
