"""The pulse-echo engine: per-element RF channel data for scatterers and transmit events.

Linear (Born) model in the spirit of Field II: every scatterer re-radiates what reaches it, and
the echo of scatterer s for transmit element e and receive element j is

    sigma_s a_e E_e(s) E_j(s) / (r_se r_sj) p_a(t - d_e - (r_se + r_sj)/c)

with E the element responses (ussim.aperture), d_e and a_e the transmit delays and apodization,
and p_a the two-way pulse after the attenuation the echo met on its path. Echoes are summed in
complex baseband on a grid 8x finer than the probe's sampling rate (exact phase, envelope at
the nearest fine sample: at most 1/16 of a sample off), convolved with the pulse envelope, and
returned as real RF at the probe's sampling rate.

The directivity of an array element along its width holds at every frequency of the band, not
only at fc: in its far field a strip of width w radiates toward direction sine u an impulse
response that is a box of duration w |u| / c, whose spectrum is the directivity
sinc(pi f w u / c). Each echo is therefore the pulse convolved with the transmit element's box
and the receive element's box (a trapezoid). PAPER(MUST, Garcia 2021; Field II's spatial
impulse response, Jensen 1991): element directivity is frequency dependent. Measured in
bench/pymust_cyst.py: with the directivity at fc only, the grating lobes that the 0.3 mm pitch
of linear-7.6 (1.5 wavelengths) opens at the upper part of the band were not damped by the
elements, and an anechoic cyst in a plane-wave image filled 6-7 dB more than in PyMUST.
The grid holds each trapezoid as its second difference (four samples), and the pulse filter is
the pulse twice integrated (see `pulse_filter`), so the convolution that turns grid samples
into RF applies both at once. DECISION (cost): four grid samples per echo make the accumulation
about 4.5x main's and array simulations about 3x slower; measured and not taken (bench/RESULTS.md,
issue 21, "Cost"): one sample per echo in an accumulator per quantised (transmit, receive) box
level pair (the grating lobes meet the elements near the box spectrum's first zero, where a
level 7 grid samples wide moves the echo tail by 5 dB, and 21+ accumulators per row leave the
cache: slower than four samples), the transmit box alone in two samples (the receive box
matters as much: cyst -11.3 against -15.1 dB), the longer box in two samples with the shorter
at fc (within 0.15 dB of exact, accumulation 3.5x instead of 4.5x main's: an approximation for
a fifth of the cost, left to the lead). DECISION: box lengths are whole grid samples (1/8 of a sample at
the probe's rate; a box of one sample is the plain echo), the elevation response stays at fc
(in-plane it sets the focal gain, not the lateral clutter), and IVUS elements keep the
width response at fc: they image inside their own near field (w^2 / lambda is 3-4 mm there),
where a far-field box is not the element's response, and a single element has no grating lobe.

Frequency-dependent attenuation alpha0 f splits into an amplitude at fc, exp(-a fc), applied
per scatterer, and a pulse-shape part exp(-a (f - fc)) (the downshift), applied per group of
scatterers whose path integrals a lie within one bin. DECISION: bins are narrow enough that
the pulse spectrum is within 1 dB of exact at fc +- B fc (0.5 dB at the -6 dB band edges), far
below the spread of attenuation between tissues.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ussim.progress import bar as progress_bar

from ussim import aperture, pulse
from ussim.errors import UsageError
from ussim.kernels import cpu as cpu_kernels
from ussim.probe import SPEED_OF_SOUND, Probe

OVERSAMPLING = 8
BIN_TOLERANCE_NP = 1.0 * pulse.NEPER_PER_DB
# DECISION: scatterers whose echo is attenuated by more than 120 dB at fc (deep in a shadow)
# are skipped: 60 dB below the bottom of a 60 dB display, they change no pixel, but each
# attenuation bin they open costs a full convolution pass.
INAUDIBLE_NP = 120 * pulse.NEPER_PER_DB
DEVICES = ("auto", "cpu", "cuda")
# The width directivity over the whole band (element boxes, see the module's docstring). DECISION:
# kept switchable (False: the directivity at fc only, as before issue 21) so that
# bench/pymust_cyst.py can show the measurement that found the difference; nothing else sets it.
BAND_DIRECTIVITY = True


@dataclass
class Scatterers:
    """Point scatterers: positions (m), amplitudes, and optionally their one-way attenuation
    path integrals (Np/Hz) for heterogeneous media; without them the medium is homogeneous."""
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    amplitude: np.ndarray
    path_attenuation: np.ndarray | None = None

    def __post_init__(self):
        arrays = [np.asarray(a, dtype=np.float64).ravel() for a in (self.x, self.y, self.z, self.amplitude)]
        if len({a.size for a in arrays}) != 1:
            raise UsageError(f"scatterer arrays differ in length: {[a.size for a in arrays]}")
        if arrays[0].size == 0:
            raise UsageError("no scatterers: give at least one")
        if not all(np.isfinite(a).all() for a in arrays):
            raise UsageError("scatterer positions and amplitudes must be finite (found NaN or inf)")
        self.x, self.y, self.z, self.amplitude = arrays
        if self.path_attenuation is not None:
            self.path_attenuation = np.asarray(self.path_attenuation, dtype=np.float64).ravel()
            if self.path_attenuation.size != self.x.size or not np.all(self.path_attenuation >= 0):
                raise UsageError("path_attenuation needs one finite value >= 0 per scatterer")

    def __len__(self):
        return self.x.size


@dataclass
class Transmit:
    """One transmit event: which elements fire, when and how strongly, and which receive.

    `elements` are (x, z, normal angle) of the element positions this event uses (for arrays the
    whole probe; for IVUS the element turned to this A-line's angle).
    """
    elements: tuple[np.ndarray, np.ndarray, np.ndarray]
    tx: np.ndarray                # indices into elements
    delays: np.ndarray            # s, one per tx element
    apodization: np.ndarray       # one per tx element
    rx: np.ndarray                # indices into elements
    origin: tuple[float, float] = (0.0, 0.0)     # where the beam starts (for beamforming)
    direction: float = 0.0                       # beam / plane-wave angle from +z (rad)
    kind: str = "focused"                        # focused | plane | single | monostatic
    focus: float = np.inf                        # m along the beam; inf for plane waves
    meta: dict = field(default_factory=dict)


@dataclass
class ChannelData:
    rf: np.ndarray               # (n_events, n_rx, n_samples) float32
    sampling_frequency: float
    t0: float                    # s, time of sample 0 after each transmit


def resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise UsageError(f"unknown device '{device}' (allowed: {', '.join(DEVICES)})")
    if device == "cpu":
        return "cpu"
    from numba import cuda
    available = cuda.is_available()
    if device == "cuda" and not available:
        raise UsageError("device 'cuda' asked for, but no CUDA GPU is available (use --device cpu or auto)")
    return "cuda" if available else "cpu"


def path_attenuation(scatterers: Scatterers, probe: Probe, alpha_db_cm_mhz: float) -> np.ndarray:
    """One-way path integrals (Np/Hz) in a homogeneous medium.

    DECISION: the path is the straight line from the nearest point of the probe's face (the
    element row, the convex arc, the catheter surface), the same for every element pair, so
    that heterogeneous media can supply it per scatterer from a tissue map.
    """
    if scatterers.path_attenuation is not None:
        return scatterers.path_attenuation
    if alpha_db_cm_mhz < 0:
        raise UsageError(f"attenuation {alpha_db_cm_mhz:g} dB/cm/MHz must not be negative")
    return pulse.db_per_cm_mhz_to_np_per_m_hz(alpha_db_cm_mhz) * face_distance(scatterers.x, scatterers.z, probe)


def face_distance(x: np.ndarray, z: np.ndarray, probe: Probe) -> np.ndarray:
    """Distance (m) from points in the imaging plane to the nearest point of the probe's face."""
    if probe.kind == "ivus":
        return np.maximum(np.hypot(x, z) - probe.catheter_radius, 0.0)
    ex, ez, angle = probe.element_positions()
    if probe.kind == "convex":
        r = np.hypot(x, z + probe.radius)
        inside = np.abs(np.arctan2(x, z + probe.radius)) <= angle.max()
        ends = np.minimum(np.hypot(x - ex[0], z - ez[0]), np.hypot(x - ex[-1], z - ez[-1]))
        return np.where(inside, np.maximum(r - probe.radius, 0.0), ends)
    return np.hypot(x - np.clip(x, ex[0], ex[-1]), np.maximum(z, 0.0))


def simulate_channels(scatterers: Scatterers, probe: Probe, events: list[Transmit], *,
                      attenuation_db_cm_mhz: float = 0.5, device: str = "auto", t_max: float | None = None,
                      excitation_cycles: float = 1.0, progress: bool = True) -> ChannelData:
    """Per-element RF for every transmit event (float32, shape (n_events, n_rx, n_samples))."""
    device = resolve_device(device)
    if not events:
        raise UsageError("no transmit events")
    if len(events) > 1 and all(ev.kind == "single" for ev in events):
        # A turn of a rotating element: every A-line is one element hearing its own echo, so all
        # of them run as one monostatic pass over one element set (no per-line overhead).
        turn = Transmit(elements=tuple(np.concatenate([np.asarray(ev.elements[k])[ev.tx] for ev in events])
                                       for k in range(3)),
                        tx=np.arange(len(events)), delays=np.zeros(len(events)), apodization=np.ones(len(events)),
                        rx=np.arange(len(events)), kind="monostatic")
        data = simulate_channels(scatterers, probe, [turn], attenuation_db_cm_mhz=attenuation_db_cm_mhz,
                                 device=device, t_max=t_max, excitation_cycles=excitation_cycles, progress=progress)
        return ChannelData(rf=data.rf.reshape(len(events), 1, -1), sampling_frequency=data.sampling_frequency,
                           t0=data.t0)
    fine_rate = OVERSAMPLING * probe.sampling_frequency
    pulse_model = pulse.design(probe.center_frequency, probe.bandwidth, fine_rate, excitation_cycles)
    boxes = ElementBoxes.of(probe, fine_rate)
    one_way = path_attenuation(scatterers, probe, attenuation_db_cm_mhz)
    two_way = 2 * one_way
    audible = np.flatnonzero(two_way * probe.center_frequency <= INAUDIBLE_NP)
    order = audible[np.argsort(two_way[audible], kind="stable")]
    bin_width = 2 * BIN_TOLERANCE_NP / (probe.bandwidth * probe.center_frequency)
    bins = np.floor(two_way[order] / bin_width).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    ends = np.r_[starts[1:], order.size]

    reach = _max_range(scatterers, events)
    max_delay = max(float(np.max(ev.delays)) if ev.delays.size else 0.0 for ev in events)
    if min(float(np.min(ev.delays)) if ev.delays.size else 0.0 for ev in events) < 0:
        raise UsageError("transmit delays must not be negative (shift them so the first element fires at 0)")
    # The fine grid always holds every echo (the kernels do not bounds-check); t_max only
    # shortens what is returned.
    t_needed = 2 * reach / SPEED_OF_SOUND + max_delay
    t_max = t_needed if t_max is None else min(t_max, t_needed)
    shortest_wavelength = SPEED_OF_SOUND / (probe.center_frequency * (1 + probe.bandwidth))
    # Rounded up so that repeated simulations of similar scenes reuse the cached tables.
    r_max = np.ceil(reach / aperture.RANGE_STEP) * aperture.RANGE_STEP
    elevation_sine = aperture.sine_extent(np.max(np.abs(scatterers.y)), _min_range(scatterers, probe))
    # With boxes the width directivity is in the echo's shape, so the width table is that of a
    # line source (one sub-element: E_w = 1).
    tables = [aperture.table(0.0 if boxes.per_sine > 0 else probe.width, np.inf, probe.center_frequency,
                             shortest_wavelength, r_max, 1.0, SPEED_OF_SOUND),
              aperture.table(probe.height, probe.elevation_focus, probe.center_frequency, shortest_wavelength,
                             r_max, elevation_sine, SPEED_OF_SOUND)]
    envelopes = {}
    n_rx = max(ev.rx.size for ev in events)
    # The margin holds the boxes, which start up to half their length before the echo's time.
    n_fine = int(np.ceil(t_needed * fine_rate)) + 2 * OVERSAMPLING + 4 * boxes.longest
    n_out = int(np.ceil(t_max * probe.sampling_frequency)) + 1
    rf = np.zeros((len(events), n_rx, n_out), np.float32)
    t_out = np.arange(n_out) / probe.sampling_frequency
    carrier = np.exp(2j * np.pi * probe.center_frequency * t_out).astype(np.complex64)
    prepare, block_size = _kernels(device)
    total = sum(len(range(a, b, block_size)) for a, b in zip(starts, ends, strict=True)) * len(events)
    with progress_bar(total=total, desc=f"pulse-echo ({device})", unit="block",
              enabled=progress) as bar:
        for index, event in enumerate(events):
            add_block = prepare(event, tables, probe, fine_rate, boxes)
            boxed = event.kind != "monostatic" and boxes.longest > 0
            margin = boxes.longest if boxed else 0
            baseband = np.zeros((event.rx.size, n_out), np.complex64)
            acc = np.zeros((event.rx.size, n_fine), np.complex64)
            for start, end in zip(starts, ends, strict=True):
                chosen = order[start:end]
                a_bin = (bins[start] + 0.5) * bin_width
                if a_bin not in envelopes:
                    g, centre = pulse_model.baseband(a_bin)
                    envelopes[a_bin] = (g.astype(np.complex64),
                                        pulse_filter(g, boxes.phase_step).astype(np.complex64), centre)
                lo, hi = n_fine, 0
                for block in range(0, chosen.size, block_size):
                    pick = chosen[block:block + block_size]
                    amplitude = scatterers.amplitude[pick] * np.exp(-two_way[pick] * probe.center_frequency)
                    span = add_block(scatterers, pick, amplitude, acc)
                    lo, hi = min(lo, span[0]), max(hi, span[1])
                    bar.update(1)
                hi = min(hi, n_fine)
                if hi > lo:
                    g, twice_integrated, centre = envelopes[a_bin]
                    # Unboxed echoes are plain samples; boxed ones are trapezoids' second differences.
                    filter_ = twice_integrated if boxed else g
                    cpu_kernels.add_decimated_convolution(acc, lo, hi, filter_, centre + margin, OVERSAMPLING,
                                                          baseband)
                    acc[:, lo:hi] = 0
            rf[index, : event.rx.size] = np.real(baseband * carrier)
    return ChannelData(rf=rf, sampling_frequency=probe.sampling_frequency, t0=0.0)


@dataclass(frozen=True)
class ElementBoxes:
    """The elements' far-field impulse responses along their width, on the fine grid.

    A box of n samples centred on an echo is held as two grid samples, lead[n] at its start and
    lead[n] turn[n] n samples later, with lead[n] = rho^-((n-1)/2) / n and turn[n] = -rho^n,
    rho = exp(-i w0 / fine_rate): once integrated (each sample rotated by rho, as the carrier
    turns in baseband), that pair is the box, of unit area, its phase exact at its centre.
    """
    per_sine: float        # box length (grid samples) per unit |sine|: w fine_rate / c; 0: no box
    longest: int           # the longest box (grid samples)
    phase_step: complex    # rho
    lead: np.ndarray       # complex64, index n = 0..longest (0 unused)
    turn: np.ndarray       # complex64

    @classmethod
    def of(cls, probe: Probe, fine_rate: float) -> "ElementBoxes":
        boxed = BAND_DIRECTIVITY and probe.kind != "ivus"
        per_sine = probe.width * fine_rate / SPEED_OF_SOUND if boxed else 0.0
        longest = int(per_sine + 0.5) + 1 if per_sine > 0 else 0  # 0: no boxes, one sample per echo
        rho = np.exp(-2j * np.pi * probe.center_frequency / fine_rate)
        n = np.maximum(np.arange(longest + 1), 1)
        return cls(per_sine, longest, complex(rho), (rho ** (-(n - 1) / 2) / n).astype(np.complex64),
                   (-(rho ** n)).astype(np.complex64))


def pulse_filter(g: np.ndarray, rho: complex) -> np.ndarray:
    """The pulse envelope twice integrated with the carrier's rotation: q = g * I * I, with
    I[k] = rho^k (k >= 0), so that the four grid samples of a trapezoid's second difference,
    convolved with q, give the trapezoid convolved with g (same centre index as g).

    q is as short as g only if g has no content at the RF frequency 0 (a double zero of its
    z-transform at rho). The band-pass pulse has none, but its cut at -60 dB leaves some (about
    0.2 % of its sum); DECISION: the least-squares correction that removes it and its first
    moment (at most 0.5 % of the pulse's peak, a slow ramp in RF below the band) is applied
    before integrating.
    """
    g = np.asarray(g, np.complex128)
    k = np.arange(g.size)
    constraints = np.vstack([rho ** (-k), k * rho ** (-k)])
    g = g - constraints.conj().T @ np.linalg.solve(constraints @ constraints.conj().T, constraints @ g)
    once = np.zeros_like(g)
    twice = np.zeros_like(g)
    for i in range(g.size):  # two first-order recursions over ~100 samples: plain Python is enough
        once[i] = g[i] + (rho * once[i - 1] if i else 0)
        twice[i] = once[i] + (rho * twice[i - 1] if i else 0)
    return twice


def _min_range(scatterers: Scatterers, probe: Probe) -> float:
    return float(max(face_distance(scatterers.x, scatterers.z, probe).min(), probe.wavelength))


def _max_range(scatterers: Scatterers, events: list[Transmit]) -> float:
    xs = np.concatenate([ev.elements[0] for ev in events])
    zs = np.concatenate([ev.elements[1] for ev in events])
    corners_x = np.array([scatterers.x.min(), scatterers.x.max()])
    corners_z = np.array([scatterers.z.min(), scatterers.z.max()])
    dx = np.max(np.abs(corners_x[:, None] - xs[None, :]))
    dz = np.max(np.abs(corners_z[:, None] - zs[None, :]))
    return float(np.sqrt(dx ** 2 + dz ** 2 + np.max(scatterers.y ** 2))) * 1.01 + 1e-4


def _kernels(device: str):
    """`prepare(event)` -> a function that adds one block of scatterers into the accumulators on
    `device` and returns the span of fine-grid samples it may have touched; what depends on the
    event alone is computed once per event, not per block."""
    if device == "cuda":
        from ussim.kernels import cuda as backend
    else:
        backend = cpu_kernels
    buffers = {}

    def prepare(event, tables, probe, fine_rate, boxes):
        # Only the elements this event uses: a focused line's aperture is a fraction of the array.
        used = np.union1d(event.tx, event.rx)
        ex, ez, angle = (np.asarray(a, np.float64)[used] for a in event.elements)
        nx, nz = np.sin(angle), np.cos(angle)
        tx, rx = np.searchsorted(used, event.tx), np.searchsorted(used, event.rx)
        shape = (backend.BLOCK, ex.size)
        if buffers.get("shape") != shape:
            buffers.update(shape=shape, tau=np.empty(shape, np.float32), re=np.empty(shape, np.float32),
                           im=np.empty(shape, np.float32), box=np.empty(shape, np.float32))
        wt, ht = tables
        table_args = (wt.values, wt.r0, wt.dr, wt.u0, wt.du, ht.values, ht.r0, ht.dr, ht.u0, ht.du,
                      2 * np.pi * probe.center_frequency / SPEED_OF_SOUND, fine_rate / SPEED_OF_SOUND,
                      boxes.per_sine)
        box_args = (boxes.lead.real.copy(), boxes.lead.imag.copy(), boxes.turn.real.copy(), boxes.turn.imag.copy())
        delays = np.asarray(event.delays, np.float64)
        # The boxes start up to `longest` samples before an echo: every echo moves that much later
        # on the grid, and the convolution's centre with it.
        shift = (delays * fine_rate + boxes.longest).astype(np.float32)
        weight = (np.asarray(event.apodization) *
                  np.exp(-2j * np.pi * probe.center_frequency * delays)).astype(np.complex64)
        weight_re, weight_im = weight.real.copy(), weight.imag.copy()

        def run(scatterers, pick, amplitude, acc):
            n = pick.size
            tau, gain_re, gain_im, box = buffers["tau"][:n], buffers["re"][:n], buffers["im"][:n], buffers["box"][:n]
            backend.element_terms(scatterers.x[pick], scatterers.y[pick], scatterers.z[pick], ex, ez, nx, nz,
                                  *table_args, tau, gain_re, gain_im, box)
            amplitude = amplitude.astype(np.float32)
            if event.kind == "monostatic":
                backend.accumulate_monostatic(tau, gain_re, gain_im, amplitude, acc)
                return int(2 * float(tau.min())), int(2 * float(tau.max())) + 2
            backend.accumulate(tau, gain_re, gain_im, box, amplitude, tx, shift, weight_re, weight_im, rx, *box_args,
                               acc)
            return (max(0, int(2 * float(tau.min()) + shift.min()) - boxes.longest),
                    int(2 * float(tau.max()) + shift.max()) + 2 + 2 * boxes.longest)

        return run

    return prepare, backend.BLOCK
