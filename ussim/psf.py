"""Point-spread functions of the full engine, for the fast engine (ussim.fast): a bank per probe,
transmit scheme, focus and settings, measured once and cached on disk.

A PSF is what the full engine (ussim.engine + ussim.beamform) makes of one unit scatterer: the
beamformed analytic lines around it, on the very beam grid of the image (the lines and samples
`simulate` beamforms), the point on a line and a sample, its shape measured where the slab's
scatterers lie on average (BankDefaults.shape_offset off the plane), its gain in the plane. The bank holds one
per node of a grid of depths x lateral positions (lines). Each is stored in complex baseband (the carrier taken out, see ussim.fast), divided by its
peak around the point (PEAK_HALF); those peaks of in-plane points are kept as a log gain over the nodes.

The cache key hashes everything that shapes a PSF: the probe, the settings that reach the
transmit and the beamformer, the beam grid, the bank's own defaults, and the source text of the
modules that compute it (ussim/engine.py, ussim/kernels/*, ussim/aperture.py, ussim/pulse.py,
ussim/transmit.py, ussim/beamform.py and this file), so a change to the physics never serves
stale PSFs. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import filelock
import numba
import numpy as np

from ussim import beamform, engine, scan, scatter
from ussim.engine import Scatterers
from ussim.probe import SPEED_OF_SOUND, Probe


@dataclass(frozen=True)
class BankDefaults:
    """Every default of the fast engine's PSF bank, in one place."""
    depth_nodes: int = 16          # DECISION: 16 depths, uniform in sqrt(depth): the PSF changes
                                   # fastest near the face (near field, 1/r spreading)
    lateral_nodes: int = 9         # sector probes (convex, phased): the PSF widens and tilts off axis.
                                   # DECISION: 9, not 5: on the ovary's 140 degree sector 5 nodes left
                                   # the fast image 0.35 dB brighter than the full one (depth bands up
                                   # to +0.7 dB), 9 nodes 0.15-0.21 dB (bands <= +0.53), at no
                                   # measurable cost per image (bench/RESULTS.md, "Fast engine")
    gain_depth_nodes: int = 32     # the peak gain on a finer grid than the shapes: it changes by
                                   # several dB between shape nodes (measured: not monotonic in depth)
    gain_edge_lines: tuple = (0, 1, 2, 4, 8, 16, 32)  # sector probes: lines from each edge where the
                                   # gain is measured (it halves over the last few lines, where the
                                   # receive aperture leaves the array), then every 1/8 of the sector
    energy_kept: float = 0.999     # DECISION: the kernel extent is the smallest box of CANDIDATE_* that
                                   # holds this share of a central PSF's energy at three depths: a
                                   # diverging wave has a faint arc 50-60 lines aside and 100-160
                                   # samples behind its peak, which fills dark regions beside strong
                                   # scatterers. Measured after issue 21 with the kernels off the plane
                                   # (shape_offset), ovary, fast minus full, mean dB: 99.5 % (kernels
                                   # 161 x 73) inside a -30 dB disc -1.81, below an absorber -0.14,
                                   # follicles +0.01 / -1.57 (seeds 1 / 2); 99.9 % (193 x 105) -0.67,
                                   # +0.03, follicles +0.46 / -1.10, elsewhere +0.11 / +0.13 alike
                                   # (bench/fast_engine.py limits(); bench/RESULTS.md, "Fast engine").
                                   # The IVUS kernel holds 99.9 % at 25 x 17 lines x samples
    blend_nodes: bool = False      # DECISION: each scatterer takes its nearest node's PSF, whole. Blending
                                   # two nodes' PSFs w K1 + (1 - w) K2 keeps their common main lobe but
                                   # halves the energy of side lobes that lie apart (w^2 + (1 - w)^2 at
                                   # w = 1/2): dark regions, filled by side lobes, came out 3 dB too
                                   # dark (follicles; bench/fast_engine.py)
    shape_offset: float = 0.577    # DECISION: the kernels' point lies this fraction of the slab's half
                                   # thickness (ussim.anatomy: one elevation cell) off the scan plane, at
                                   # the node's 3-D distance: 1/sqrt(3), the RMS offset of the slab's
                                   # scatterers. In the plane itself the elevation aperture's near field
                                   # can depress the peak (ovary, 8 mm: 2.5x below the point 0.34 mm off
                                   # it) and leave a PSF whose far field holds 6.4 % of its energy
                                   # against 2.6-3.0 % off the plane, which filled follicles too brightly
                                   # (bench/RESULTS.md, "Fast engine"). The gains stay in the plane: the
                                   # elevation factor (ussim.fast) scales them to each scatterer's offset
    first_node_wavelengths: float = 1.0  # the shallowest node: 1 wavelength from the face
                                         # (nearer, the point sits in the element's near field)


CANDIDATE_HALF_LINES = (4, 8, 12, 16, 24, 32, 48, 64, 80, 96)
CANDIDATE_BEFORE = (8, 16, 32)
CANDIDATE_AFTER = (8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 224)
PEAK_HALF = (2, 4)  # lines, samples around a point where its gain is read: the peak lies on it
GAIN_GAP = 32       # samples between gain points simulated together (main lobes: +-8 samples at -50 dB)


DEFAULTS = BankDefaults()
# the physics sources a PSF depends on (paths relative to the ussim package)
SOURCES = ("engine.py", "kernels", "aperture.py", "pulse.py", "transmit.py", "beamform.py", "psf.py")


@dataclass
class Bank:
    """PSFs on the beam grid: kernels (depth node, lateral node, line offset, sample offset),
    complex64 baseband, the point at offset (half_lines, samples_before)."""
    depth_nodes: np.ndarray      # float sample indices of the depth nodes (increasing)
    lateral_nodes: np.ndarray    # float line indices of the lateral nodes (increasing)
    kernels: np.ndarray
    gain_depths: np.ndarray      # float sample indices where the gain is known
    gain_lines: np.ndarray       # float line indices where the gain is known
    log_gain: np.ndarray         # (gain depth, gain line): log of a unit point's peak |value|
    half_lines: int
    samples_before: int
    seconds: float               # how long measuring the bank took (0 when read from the cache)
    # the kernels' FFTs at the sizes the fast engine used, kept in memory for the next image
    spectra: dict = field(default_factory=dict, repr=False, compare=False)


def cache_dir() -> Path:
    """$USSIM_CACHE/psf, else $XDG_CACHE_HOME (or ~/.cache)/ussim-toolkit/psf."""
    if os.environ.get("USSIM_CACHE"):
        return Path(os.environ["USSIM_CACHE"]) / "psf"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ussim-toolkit" / "psf"


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 of the source text of every module that shapes a PSF (SOURCES)."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for name in SOURCES:
        path = root / name
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def key(probe: Probe, settings, geometry: scan.Geometry, radii: np.ndarray, defaults: BankDefaults) -> str:
    """The cache key of a bank: everything that shapes its PSFs."""
    positions = geometry.x if isinstance(geometry, scan.LinearLines) else geometry.angles
    # the focus and depth shape focused lines only (transmit focus, receive aperture); the other
    # schemes' banks serve every depth: images of other sizes share them
    names = ("scheme", "n_lines", "line_positions", "angles", "n_waves", "tx_f_number", "rx_f_number",
             "tx_apodization", "rx_apodization", "excitation_cycles") + \
        (("focus", "depth") if settings.scheme == "focused" else ())
    shaping = {"probe": probe.as_dict(), "defaults": asdict(defaults), "sources": source_digest(),
               "settings": {name: getattr(settings, name) for name in names},
               "lines": [float(positions[0]), float(positions[-1]), len(positions)],
               "radii": [float(radii[0]), float(radii[1] - radii[0]), len(radii)]}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:24]


RADII_BLOCK = 256  # a bank covers its radii rounded up to a multiple of this many samples


def extended(radii: np.ndarray) -> np.ndarray:
    """The radii continued, same start and step, to a multiple of RADII_BLOCK samples: a bank
    measured on them serves every image whose lines are a prefix of them (other sizes, depths)."""
    count = int(np.ceil(len(radii) / RADII_BLOCK) * RADII_BLOCK)
    return float(radii[0]) + float(radii[1] - radii[0]) * np.arange(count)


def load_or_measure(probe: Probe, settings, events, geometry: scan.Geometry, radii: np.ndarray, *,
                    device: str = "auto", defaults: BankDefaults | None = None) -> Bank:
    """The bank of this probe and these settings: from the disk cache, else measured and cached
    (`defaults`: DEFAULTS unless given)."""
    defaults = defaults or DEFAULTS
    radii = extended(radii)
    path = cache_dir() / f"{key(probe, settings, geometry, radii, defaults)}.npz"
    if path in _MEMORY:
        return _MEMORY[path]
    bank = _stored(path)
    if bank is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # DECISION: one process measures a bank while the others that need it wait and read it:
        # `ussim dataset`'s workers (and the test suite's) all start on the same probe, and on a
        # fresh machine each measured it side by side, the same 15-30 CPU seconds once per worker.
        with filelock.FileLock(f"{path}.lock"):
            bank = _stored(path)  # measured by another process while this one waited
            if bank is None:
                # a user's first image of a probe and settings waits for this (the ovary's 256
                # focused lines: 52 s on 2 idle cores): say why, once, on stderr
                print(f"ussim: measuring the fast engine's point-spread functions for {probe.name} "
                      f"({settings.scheme}), once on this machine; cached in {path.parent}",
                      file=sys.stderr, flush=True)
                bank = measure(probe, settings, events, geometry, radii, device=device, defaults=defaults)
                _write(path, bank)
                print(f"ussim: point-spread functions measured in {bank.seconds:.0f} s", file=sys.stderr, flush=True)
    _MEMORY[path] = bank
    return bank


def _stored(path: Path) -> Bank | None:
    """The bank cached at `path`, or None when there is none or the file is damaged (then it is
    measured again and replaced)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            return Bank(stored["depth_nodes"], stored["lateral_nodes"], stored["kernels"], stored["gain_depths"],
                        stored["gain_lines"], stored["log_gain"], int(stored["half_lines"]),
                        int(stored["samples_before"]), 0.0)
    except (OSError, ValueError, KeyError):
        return None


def _write(path: Path, bank: Bank) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.part")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, depth_nodes=bank.depth_nodes, lateral_nodes=bank.lateral_nodes, kernels=bank.kernels,
                     gain_depths=bank.gain_depths, gain_lines=bank.gain_lines, log_gain=bank.log_gain, half_lines=bank.half_lines,
                     samples_before=bank.samples_before)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_MEMORY: dict = {}


def depth_nodes(probe: Probe, radii: np.ndarray, count: int, defaults: BankDefaults) -> np.ndarray:
    """Sample indices of `count` depth nodes, uniform in sqrt(distance from the first sample), from
    `first_node_wavelengths` to the last sample."""
    step = float(radii[1] - radii[0])
    first = max(defaults.first_node_wavelengths * probe.wavelength / step, 1.0)
    last = radii.size - 1.0
    if first >= last:
        return np.array([last])
    return np.unique(np.round(np.linspace(np.sqrt(first), np.sqrt(last), count) ** 2))  # on samples


def lateral_nodes(probe: Probe, n_lines: int, defaults: BankDefaults) -> np.ndarray:
    """Line indices of the shape nodes: the central line for IVUS (every line is alike) and
    linear arrays (alike but at the array's ends: a measured limit, bench/RESULTS.md); for
    sector probes `lateral_nodes` lines from edge to edge."""
    if probe.kind in ("ivus", "linear") or defaults.lateral_nodes < 2:
        return np.array([float(n_lines // 2)])
    return np.round(np.linspace(0, n_lines - 1, defaults.lateral_nodes))


def gain_lines(probe: Probe, n_lines: int, defaults: BankDefaults) -> np.ndarray:
    """Line indices where the gain is measured: the central line for IVUS; else near each edge
    (gain_edge_lines) and every 1/8 of the lines between."""
    if probe.kind == "ivus":
        return np.array([float(n_lines // 2)])
    edge = np.array([e for e in defaults.gain_edge_lines if e < n_lines / 2], float)
    lines = np.concatenate([edge, np.linspace(0, n_lines - 1, 9), n_lines - 1 - edge])
    return np.unique(np.clip(np.round(lines), 0, n_lines - 1))


def measure(probe: Probe, settings, events, geometry: scan.Geometry, radii: np.ndarray, *, device: str = "auto",
            defaults: BankDefaults | None = None) -> Bank:
    """Simulate unit scatterers with the full engine: one per shape node (its lines around it,
    over the kernel's extent) and one per gain node (its peak)."""
    defaults = defaults or DEFAULTS
    start = time.perf_counter()
    # DECISION: one CPU thread for the receive beamformer's parallel loop while the bank is measured.
    # Each call beamforms one line of one point (thousands of calls of about a millisecond), too
    # little work to share: the ovary's focused bank took 49 s with the default two threads and 47
    # s with one on 2 idle cores, but 138 s against 72 s beside two busy processes (2026-12-04), and
    # the test suite's two workers made it 420 s. Exact: the loop's pixels are independent.
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return _measured(probe, settings, events, geometry, radii, device, defaults, start)
    finally:
        numba.set_num_threads(threads)


def _measured(probe: Probe, settings, events, geometry: scan.Geometry, radii: np.ndarray, device: str,
              defaults: BankDefaults, start: float) -> Bank:
    positions = geometry.x if isinstance(geometry, scan.LinearLines) else geometry.angles
    n_lines = len(positions)
    line_step = float((positions[-1] - positions[0]) / (n_lines - 1))
    step = float(radii[1] - radii[0])
    wavenumber = 2 * np.pi * probe.center_frequency / SPEED_OF_SOUND

    offset = defaults.shape_offset * scatter.resolution_cell(probe)[2] / 2

    def lines_of(line: float, depth: float, half: int, before: int, after: int) -> np.ndarray:
        r = float(radii[0] + depth * step)
        window = np.arange(-before, after + 1) * step
        lines_at = positions[0] + (line + np.arange(-half, half + 1)) * line_step
        value = point_lines(probe, settings, events, geometry, float(positions[0] + line * line_step), r, lines_at,
                            r + window, float(radii[0]), device, y=min(offset, r / 2))
        return value * np.exp(-2j * wavenumber * window)[None, :]  # analytic -> baseband (ussim.fast)

    depths, laterals = depth_nodes(probe, radii, defaults.depth_nodes, defaults), \
        lateral_nodes(probe, n_lines, defaults)
    # IVUS: a full turn holds each line once, so a kernel spans fewer than the turn's lines
    widest = CANDIDATE_HALF_LINES[-1] if probe.kind != "ivus" else min(CANDIDATE_HALF_LINES[-1], (n_lines - 1) // 2)
    half, before, after = kernel_extent(lambda line, depth: lines_of(line, depth, widest, CANDIDATE_BEFORE[-1],
                                                                    CANDIDATE_AFTER[-1]),
                                        widest, n_lines, depths, defaults)
    kernels = np.zeros((depths.size, laterals.size, 2 * half + 1, before + after + 1), np.complex64)
    for d, depth in enumerate(depths):
        for a, line in enumerate(laterals):
            value = lines_of(line, depth, half, before, after)
            # DECISION: divided by the peak around the point (PEAK_HALF), where the gain is read, not
            # by the kernel's maximum: in the IVUS element's near field (0.1-0.5 mm) a point's echo
            # is strongest 3-6 lines aside (up to 1.3x the on-line peak), and dividing by that
            # maximum left the fast image 1.4-2.2 dB dark there (bench/RESULTS.md, "Fast engine")
            around = value[half - PEAK_HALF[0]:half + PEAK_HALF[0] + 1,
                           max(before - PEAK_HALF[1], 0):before + PEAK_HALF[1] + 1]
            kernels[d, a] = value / max(float(np.abs(around).max()), 1e-30)
    gain_depths = depth_nodes(probe, radii, defaults.gain_depth_nodes, defaults)
    lines = gain_lines(probe, n_lines, defaults)
    log_gain = np.zeros((gain_depths.size, lines.size))
    for passing in passes(gain_depths, GAIN_GAP):
        # DECISION: the gain points of a line GAIN_GAP samples apart share one simulation: each
        # point's peak is read beyond the others' main lobes (the far tails lie on other lines)
        depths_here = gain_depths[passing]
        first, last = int(depths_here[0]) - PEAK_HALF[1], int(depths_here[-1]) + PEAK_HALF[1]
        span = radii[0] + np.arange(first, last + 1) * step
        for a, line in enumerate(lines):
            lines_at = positions[0] + (line + np.arange(-PEAK_HALF[0], PEAK_HALF[0] + 1)) * line_step
            value = np.abs(point_lines(probe, settings, events, geometry, float(positions[0] + line * line_step),
                                       radii[0] + depths_here * step, lines_at, span, float(radii[0]), device))
            for index, depth in zip(passing, depths_here, strict=True):
                around = value[:, int(depth) - PEAK_HALF[1] - first:int(depth) + PEAK_HALF[1] + 1 - first]
                log_gain[index, a] = np.log(max(float(around.max()), 1e-30))
    return Bank(depths, laterals, kernels, gain_depths, lines, log_gain, half, before, time.perf_counter() - start)


def passes(depths: np.ndarray, gap: float) -> list[np.ndarray]:
    """Indices of the (increasing) `depths` in groups whose members lie at least `gap` apart."""
    groups: list[list[int]] = []
    for index, depth in enumerate(depths):
        for group in groups:
            if depth - depths[group[-1]] >= gap:
                group.append(index)
                break
        else:
            groups.append([index])
    return [np.array(group) for group in groups]


def kernel_extent(lines_of, widest: int, n_lines: int, depths: np.ndarray,
                  defaults: BankDefaults) -> tuple[int, int, int]:
    """(half lines, samples before, samples after): the smallest candidate box (at most `widest`
    lines each side) that holds `energy_kept` of the central line's PSF, `lines_of(line, depth)`
    +-widest lines, at the depth nodes a quarter, half and three quarters down."""
    big_half, big_before = widest, CANDIDATE_BEFORE[-1]
    psfs = [np.abs(lines_of(float(n_lines // 2), depths[int(q * (depths.size - 1))])) ** 2 for q in (0.25, 0.5, 0.75)]
    best = None
    for half in sorted({h for h in CANDIDATE_HALF_LINES if h < widest} | {widest}):
        for before in CANDIDATE_BEFORE:
            for after in CANDIDATE_AFTER:
                kept = min(e[big_half - half:big_half + half + 1, big_before - before:big_before + after + 1].sum()
                           / e.sum() for e in psfs)
                area = (2 * half + 1) * (before + after + 1)
                if kept >= defaults.energy_kept and (best is None or area < best[0]):
                    best = (area, half, before, after)
    return best[1:] if best else (big_half, big_before, CANDIDATE_AFTER[-1])


def point_lines(probe: Probe, settings, events, geometry: scan.Geometry, lateral: float, r,
                lines_at: np.ndarray, radii: np.ndarray, radii_start: float, device: str, *,
                y: float = 0.0) -> np.ndarray:
    """The full engine's beamformed analytic lines (len(lines_at), len(radii)) of a unit scatterer
    (or several) at line position `lateral` (x or angle) and distance(s) `r` along its line (the settings' radii,
    whose first sample is `radii_start`); `y` off the scan plane, its 3-D distance from the face still `r`."""
    r = np.atleast_1d(np.asarray(r, np.float64))  # several points along the line: one simulation
    x, z = plane_position(geometry, lateral, np.sqrt(r ** 2 - y ** 2) + face_offset(geometry, radii_start))
    point = Scatterers(np.broadcast_to(x, r.shape), np.full(r.size, y), z, np.ones(r.size))
    kind = events[0].kind
    if kind in ("diverging", "plane"):
        channels = engine.simulate_channels(point, probe, events, attenuation_db_cm_mhz=0.0, device=device,
                                            excitation_cycles=settings.excitation_cycles, progress=False)
        keyword = {"line_angles": lines_at} if kind == "diverging" else {"line_x": lines_at}
        return beamform.beamform(channels, events, probe, radii, f_number=settings.rx_f_number,
                                 apodization=settings.rx_apodization, **keyword).lines
    # one event per line (focused arrays, IVUS): the events of the lines around the point, each
    # beamformed on its own (a subset of an IVUS turn is no valid radial geometry)
    chosen = line_events(probe, settings, events, geometry, lines_at)
    channels = engine.simulate_channels(point, probe, chosen, attenuation_db_cm_mhz=0.0, device=device,
                                        excitation_cycles=settings.excitation_cycles, progress=False)
    lines = []
    for index, event in enumerate(chosen):
        one = engine.ChannelData(channels.rf[index:index + 1], channels.sampling_frequency, channels.t0)
        lines.append(beamform.beamform(one, [event], probe, radii, f_number=settings.rx_f_number,
                                       apodization=settings.rx_apodization).lines[0])
    return np.array(lines)


def face_offset(geometry: scan.Geometry, radii_start: float) -> float:
    """What the geometry's sample coordinate (radius from an apex or the catheter centre, or
    depth) adds to the settings' radii (distance from the probe face)."""
    along = geometry.z if isinstance(geometry, scan.LinearLines) else geometry.radii
    return float(along[0] - radii_start)


def plane_position(geometry: scan.Geometry, lateral, along):
    """(x, z) in m of points at line position `lateral` (x or angle) and sample coordinate `along`."""
    if isinstance(geometry, scan.LinearLines):
        return lateral, along
    if isinstance(geometry, scan.SectorLines):
        return geometry.apex_x + along * np.sin(lateral), geometry.apex_z + along * np.cos(lateral)
    return along * np.sin(lateral), along * np.cos(lateral)


def line_events(probe: Probe, settings, events, geometry, lines_at: np.ndarray) -> list:
    """Transmit events of lines at `lines_at` (x or angle), as the settings make them."""
    from ussim import transmit
    if probe.kind == "ivus":
        turn = len(events)
        step = 2 * np.pi / turn
        chosen = []
        for angle in lines_at:  # IVUS lines exist at k 2 pi / n only: lines_at lie on them
            chosen.append(events[int(np.round(angle / step)) % turn])
        return chosen
    return transmit.focused_lines(probe, len(lines_at), settings.focus, f_number=settings.tx_f_number,
                                  apodization=settings.tx_apodization, positions=lines_at,
                                  rx_half_aperture=settings.depth / (2 * settings.rx_f_number))
