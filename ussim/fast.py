"""The fast engine: scatterers accumulated on the beam grid and convolved with the full engine's
point-spread functions, in place of channel data and delay-and-sum.

The established convolution model of ultrasound images with a spatially varying PSF (Bamber and
Dickinson 1980; Meunier and Bertrand 1995; COLE, Gao et al., IEEE UFFC 2009; the beam-profile
simulator of OpenBCSim, Storve and Torp 2017). The beamformed analytic line of the full engine
is, to the Born approximation it already makes, a sum of shifted PSFs K:

    L(r, l) = sum_s A_s K_s(r - r_s, l - l_s)
            = exp(i 2k r) sum_s [A_s exp(-i 2k r_s)] B_s(r - r_s, l - l_s),   B = K exp(-i 2k dr)

with r the distance along a line, l the line, k the wavenumber at fc. So each scatterer adds
its complex amplitude A_s exp(-i 2k r_s) (exact phase) to the beam grid (linearly between the
two samples around r_s, the baseband PSF varying slowly over one sample; to the nearest quarter
line across), and the grid is convolved with the baseband PSFs B of ussim.psf: per depth and
lateral node of the bank, each scatterer weighted linearly between the two nodes around it
(overlap-add of node-wise convolutions), its gain interpolated in log between the nodes.

A_s is the scatterer's amplitude times what the full engine applies per scatterer and the bank's
in-plane points do not have: the attenuation amplitude at fc, exp(-a fc) (a the two-way path
integral of ussim.engine.path_attenuation), and the elevation beam at its offset y (the probe's
height aperture table of ussim.aperture, squared for transmit and receive, relative to y = 0);
its r_s is its 3-D distance from the face. The downshift, exp(-a (f - fc)) on the pulse
spectrum, is applied to the PSF along the line (time) axis per attenuation bin of the same width
as the full engine's (ussim.engine.BIN_TOLERANCE_NP).

The lines enter the same envelope, TGC, scan conversion and display chain as the full engine's
(ussim.simulate.detect and display_image).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import fft

from ussim import aperture, beamform, engine, psf, scan
from ussim.engine import Scatterers
from ussim.errors import UsageError
from ussim.probe import SPEED_OF_SOUND, Probe

BACKENDS = ("numpy", "torch")
# DECISION: the downshift factor exp(-a (f - fc)) is held constant beyond fc +- B fc (twice the
# -6 dB half band): there the pulse has no energy, and the exponential would only amplify the
# PSF's numerical floor (-60 dB) by up to e^(a fs / 2).
DOWNSHIFT_BAND = 1.0
# extra samples on each side of a kernel before the downshift filter, which lengthens the pulse a little
DOWNSHIFT_PAD = 8


def beamformed(scatterers: Scatterers, probe: Probe, settings, events, radii: np.ndarray,
               geometry: scan.Geometry, *, device: str = "auto", backend: str = "numpy",
               bank: psf.Bank | None = None) -> beamform.Beamformed:
    """The beamformed analytic lines (n_lines, len(radii)) that the full engine would make of
    `scatterers`, by PSF convolution. `backend` "torch" convolves with torch on CUDA when present."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown fast-engine backend '{backend}' (allowed: {', '.join(BACKENDS)})")
    bank = bank or psf.load_or_measure(probe, settings, events, geometry, radii, device=device)
    n_lines = len(geometry.x if isinstance(geometry, scan.LinearLines) else geometry.angles)
    terms = scatterer_terms(scatterers, probe, settings, geometry, radii, bank)
    kernel_lines, kernel_samples = bank.kernels.shape[-2], bank.kernels.shape[-1] + 2 * DOWNSHIFT_PAD
    pad_lines, pad_samples = kernel_lines + 4, kernel_samples + 2
    out = np.zeros((n_lines + 2 * pad_lines, radii.size + 2 * pad_samples), np.complex64)
    transform = _transforms(backend)
    axial = attenuation_bin_width(probe)
    for (depth_node, lateral_node), (j, t, s0, frac, value, bins) in grouped(terms, bank, probe):
        j_lo, s_lo = int(j.min()) - 1, int(s0.min())  # the cubic taps reach one line before j
        rows, cols = int(j.max()) + 2 - j_lo + 1, int(s0.max()) + 1 - s_lo + 1
        shape = (fft.next_fast_len(rows + kernel_lines - 1, False), fft.next_fast_len(cols + kernel_samples - 1, False))
        offsets = np.fft.fftfreq(shape[1], 1 / probe.sampling_frequency)
        # one layer per attenuation bin, each filtered with its downshift along the lines, then summed
        counts = np.bincount(bins - bins.min())
        present = np.flatnonzero(counts) + bins.min()
        layer = (np.cumsum(counts > 0) - 1)[bins - bins.min()]
        blocks = splat(j - j_lo, t, s0 - s_lo, frac, value, (present.size, rows, cols), layer)
        factors = np.stack([downshift(offsets, (b + 0.5) * axial, probe) for b in present])
        spectrum = transform.axial(blocks, shape[1], factors)
        kernel = kernel_spectrum(bank, depth_node, lateral_node, shape, transform)
        result = transform.finish(spectrum, kernel, shape)[:rows + kernel_lines - 1, :cols + kernel_samples - 1]
        line0 = pad_lines + j_lo - bank.half_lines
        sample0 = pad_samples + s_lo - (bank.samples_before + DOWNSHIFT_PAD)
        out[line0:line0 + result.shape[0], sample0:sample0 + result.shape[1]] += result
    if isinstance(geometry, scan.RadialLines):  # a full turn: what fell beyond either end wraps round
        folded = np.zeros((-(-out.shape[0] // n_lines) * n_lines, out.shape[1]), out.dtype)
        folded[:out.shape[0]] = out
        folded = folded.reshape(-1, n_lines, out.shape[1]).sum(axis=0)  # row k: every row i = k mod n_lines
        body = np.roll(folded, -pad_lines, axis=0)  # row m of the turn: out's row m + pad_lines, mod n_lines
    else:
        body = out[pad_lines:pad_lines + n_lines]
    baseband = body[:, pad_samples:pad_samples + radii.size]
    wavenumber = 2 * np.pi * probe.center_frequency / SPEED_OF_SOUND
    lines = baseband * np.exp(2j * wavenumber * radii)[None, :]
    return beamform.Beamformed(lines.astype(np.complex64), geometry)


def scatterer_terms(scatterers: Scatterers, probe: Probe, settings, geometry: scan.Geometry, radii: np.ndarray,
                    bank: psf.Bank) -> dict:
    """Per scatterer on the beam grid: fractional line and sample, complex amplitude A exp(-i 2k r),
    two-way attenuation path integral; only those whose PSF reaches the grid and is audible."""
    step = float(radii[1] - radii[0])
    n_lines = len(geometry.x if isinstance(geometry, scan.LinearLines) else geometry.angles)
    line, _, along = scan.beam_indices(geometry, scatterers.x, scatterers.z)
    offset = psf.face_offset(geometry, float(radii[0]))
    in_plane = along - offset
    distance = np.sqrt(in_plane ** 2 + scatterers.y ** 2)  # from the face, out of the plane too
    sample = (distance - radii[0]) / step
    two_way = 2 * engine.path_attenuation(scatterers, probe, settings.attenuation_db_cm_mhz)
    keep = (two_way * probe.center_frequency <= engine.INAUDIBLE_NP) & (in_plane > 0)
    keep &= (sample > -bank.kernels.shape[-1]) & (sample < radii.size + bank.samples_before)
    if not isinstance(geometry, scan.RadialLines):
        keep &= (line > -bank.half_lines - 1) & (line < n_lines + bank.half_lines)
    pick = np.flatnonzero(keep)
    line, sample, distance, two_way = line[pick], sample[pick], distance[pick], two_way[pick]
    y = scatterers.y[pick]
    wavenumber = 2 * np.pi * probe.center_frequency / SPEED_OF_SOUND
    value = elevation_factor(probe, in_plane[pick], distance, y)
    _gain_and_phase(scatterers.amplitude[pick], two_way * probe.center_frequency, distance, 2 * wavenumber, sample,
                    line, bank.gain_depths, bank.gain_lines, bank.log_gain, value)
    return {"line": line, "sample": sample, "value": value, "two_way": two_way}


@numba.njit(parallel=True, cache=True)
def _gain_and_phase(amplitude, attenuation, distance, two_k, sample, line, gain_depths, gain_lines, log_gain, value):
    """value *= amplitude exp(-attenuation) exp(log gain) exp(-i two_k distance), in place; the
    bank's log peak gain bilinear between its gain nodes at (sample, line), held beyond them.
    Compiled: in numpy, six complex passes over every scatterer were a tenth of the image's time."""
    for i in numba.prange(value.size):
        d0, wd = _node_cell(sample[i], gain_depths)
        a0, wa = _node_cell(line[i], gain_lines)
        d1, a1 = min(d0 + 1, gain_depths.size - 1), min(a0 + 1, gain_lines.size - 1)
        gain = (1 - wd) * ((1 - wa) * log_gain[d0, a0] + wa * log_gain[d0, a1]) + \
            wd * ((1 - wa) * log_gain[d1, a0] + wa * log_gain[d1, a1])
        phase = two_k * distance[i]
        value[i] *= amplitude[i] * np.exp(gain - attenuation[i]) * complex(np.cos(phase), -np.sin(phase))


@numba.njit(cache=True)
def _node_cell(position, nodes):
    """`_cell(np.interp(position, nodes, arange(n)), n)` for one position: lower node, weight of the upper."""
    n = nodes.size
    if n < 2:
        return 0, 0.0
    if position <= nodes[0]:
        return 0, 0.0
    if position >= nodes[n - 1]:
        return n - 2, 1.0
    k = min(np.searchsorted(nodes, position, side="right") - 1, n - 2)
    return k, (position - nodes[k]) / (nodes[k + 1] - nodes[k])


def elevation_factor(probe: Probe, in_plane: np.ndarray, distance: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Two-way response of a scatterer at `y` off the scan plane, at 3-D distance `distance` from
    the face, relative to a scatterer in the plane at that distance (whose gain the bank holds:
    the scatterer's sample is its 3-D distance), as the full engine's element terms give it
    (ussim.kernels.physics: E_w E_h along / r^2 per element):

        [E_h(r, y / r) / E_h(r, 0) x d / r]^2,   d = in_plane, r = distance,

    E_h the probe's height aperture table (ussim.aperture), d / r the obliquity along / r, which
    matters near the face, where the slab's half thickness is comparable to the depth.
    DECISION: one element's geometry for the whole aperture: d is the distance from the face
    along the line, the element right above the scatterer; the receive aperture's elements
    (f-number 1.5) lie within 5 % of it."""
    if not np.any(y):
        return np.ones(distance.size, np.complex128)
    shortest = SPEED_OF_SOUND / (probe.center_frequency * (1 + probe.bandwidth))
    r_max = np.ceil(float(distance.max()) / aperture.RANGE_STEP) * aperture.RANGE_STEP
    u_max = aperture.sine_extent(float(np.abs(y).max()), max(float(in_plane.min()), probe.wavelength))
    table = aperture.table(probe.height, probe.elevation_focus, probe.center_frequency, shortest, r_max, u_max,
                           SPEED_OF_SOUND)
    factor = np.empty(distance.size, np.complex128)
    _elevation(table.values, table.r0, table.dr, table.u0, table.du, shortest, in_plane, distance, y, factor)
    return factor


@numba.njit(parallel=True, cache=True)
def _elevation(values, r0, dr, u0, du, shortest, in_plane, distance, y, factor):
    """The loop of `elevation_factor`, compiled: the table bilinearly at (distance, y / distance)
    and at (distance, 0), held beyond its edges (scipy's RegularGridInterpolator, which this
    replaces, searched the nodes for every one of the ovary's 400 k scatterers: 60 ms)."""
    rows, columns = values.shape
    c_in = min(max(-u0 / du, 0.0), columns - 1.0)  # the column of u = 0
    c0_in = min(int(c_in), columns - 2)
    w_in = c_in - c0_in
    for i in numba.prange(distance.size):
        r = min(max((distance[i] - r0) / dr, 0.0), rows - 1.0)
        k = min(int(r), rows - 2)
        wr = r - k
        c = min(max((y[i] / max(distance[i], shortest) - u0) / du, 0.0), columns - 1.0)
        m = min(int(c), columns - 2)
        wc = c - m
        off = (1 - wr) * ((1 - wc) * values[k, m] + wc * values[k, m + 1]) + \
            wr * ((1 - wc) * values[k + 1, m] + wc * values[k + 1, m + 1])
        on = (1 - wr) * ((1 - w_in) * values[k, c0_in] + w_in * values[k, c0_in + 1]) + \
            wr * ((1 - w_in) * values[k + 1, c0_in] + w_in * values[k + 1, c0_in + 1])
        ratio = complex(off) / (complex(on) if on != 0 else 1.0) * (in_plane[i] / distance[i])
        factor[i] = ratio * ratio


def _cell(position: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower node index and weight of the upper node for fractional node positions in [0, n - 1]."""
    if n < 2:
        return np.zeros(position.size, np.int64), np.zeros(position.size)
    lower = np.minimum(np.floor(position).astype(np.int64), n - 2)
    return lower, position - lower


def grouped(terms: dict, bank: psf.Bank, probe: Probe):
    """(depth node, lateral node) -> that node's scatterers: lower line j, fraction t to the next
    line, lower sample, fraction to the next sample, weighted value, attenuation bin; each
    scatterer with its nearest node's PSF (or split linearly between the nodes around it, with
    psf.DEFAULTS.blend_nodes)."""
    lateral_count = bank.lateral_nodes.size
    if psf.DEFAULTS.blend_nodes:
        depth = np.interp(terms["sample"], bank.depth_nodes, np.arange(bank.depth_nodes.size))
        lateral = np.interp(terms["line"], bank.lateral_nodes, np.arange(lateral_count))
        d0, wd = _cell(depth, bank.depth_nodes.size)
        a0, wa = _cell(lateral, lateral_count)
        parts = []
        for dd, weight_d in ((0, 1 - wd), (1, wd)):
            for da, weight_a in ((0, 1 - wa), (1, wa)):
                weight = weight_d * weight_a
                use = np.flatnonzero(weight > 0)
                parts.append(((d0[use] + dd) * lateral_count + a0[use] + da, use, weight[use]))
        key = np.concatenate([p[0] for p in parts])
        index = np.concatenate([p[1] for p in parts])
        weight = np.concatenate([p[2] for p in parts])
    else:  # the nearest node, whole: the one whose midpoints with its neighbours bracket the scatterer
        nearest_depth = np.searchsorted((bank.depth_nodes[1:] + bank.depth_nodes[:-1]) / 2, terms["sample"], "right")
        nearest_line = np.searchsorted((bank.lateral_nodes[1:] + bank.lateral_nodes[:-1]) / 2, terms["line"], "right")
        key, index, weight = nearest_depth * lateral_count + nearest_line, None, None
    # few nodes: a 16-bit key, which numpy sorts stably by radix (6x faster than 64-bit keys)
    order = np.argsort(key.astype(np.int16 if key.size and key.max() < 2 ** 15 else np.int64), kind="stable")
    key = key[order]
    index = order if index is None else index[order]
    value = terms["value"][index] if weight is None else terms["value"][index] * weight[order]
    line, sample, two_way = terms["line"][index], terms["sample"][index], terms["two_way"][index]  # nodes: slices
    j = np.floor(line).astype(np.int64)
    t = line - j
    s0 = np.floor(sample).astype(np.int64)
    frac = sample - s0
    bins = np.floor(two_way / attenuation_bin_width(probe)).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.array([], np.int64)
    ends = np.r_[starts[1:], key.size] if key.size else starts  # no scatterer reaches the grid: no node
    for start, end in zip(starts, ends, strict=True):
        part = slice(start, end)
        yield divmod(int(key[start]), lateral_count), (
            j[part], t[part], s0[part], frac[part], value[part], bins[part])


def splat(j: np.ndarray, t: np.ndarray, s0: np.ndarray, frac: np.ndarray, value: np.ndarray,
          shape: tuple[int, int, int], layer: np.ndarray) -> np.ndarray:
    """Scatterer values onto (layers, lines, samples) blocks, each into its `layer`: linearly
    between the two samples around each, and across lines with the cubic convolution weights
    (Keys, a = -0.5) of its fraction t to the next line, on lines j - 1 .. j + 2 (j counted
    from the block's second line).
    DECISION: cubic across lines, so that one PSF per node serves every sub-line position: the
    lines sample the PSF's main lobe with 3-7 lines (bench/fast_engine.py), where cubic
    interpolation is within a few per cent and linear would lose up to 10 % of a peak between lines."""
    block = np.zeros(shape, np.complex128)
    _splat(j, t, s0, frac, value.astype(np.complex128), layer, block)
    return block


@numba.njit(cache=True)
def _splat(j, t, s0, frac, value, layer, block):
    """The loop of `splat`, compiled: numpy's bincount needed eight copies of every scatterer."""
    for i in range(j.size):
        u = t[i]
        taps = (((-0.5 * u + 1) * u - 0.5) * u, (1.5 * u - 2.5) * u * u + 1, ((-1.5 * u + 2) * u + 0.5) * u,
                (0.5 * u - 0.5) * u * u)
        near, far = value[i] * (1 - frac[i]), value[i] * frac[i]
        for k in range(4):
            block[layer[i], j[i] - 1 + k, s0[i]] += taps[k] * near
            block[layer[i], j[i] - 1 + k, s0[i] + 1] += taps[k] * far


def attenuation_bin_width(probe: Probe) -> float:
    """The full engine's attenuation bin (Np/Hz, two-way): the pulse shape within 1 dB across the band."""
    return 2 * engine.BIN_TOLERANCE_NP / (probe.bandwidth * probe.center_frequency)


def downshift(offsets: np.ndarray, attenuation: float, probe: Probe) -> np.ndarray:
    """The pulse-shape part of attenuation at baseband frequencies f - fc: exp(-a (f - fc)), as
    ussim.pulse.Pulse.baseband applies it (its part at fc, exp(-a fc), is applied per scatterer)."""
    band = DOWNSHIFT_BAND * probe.bandwidth * probe.center_frequency
    return np.exp(-attenuation * np.clip(offsets, -band, band))


def kernel_spectrum(bank: psf.Bank, depth_node: int, lateral_node: int, shape: tuple[int, int], transform):
    """The 2-D spectrum of a node's PSF (padded for the downshift filter) at FFT size `shape`,
    kept on the bank: the nodes' regions, and so their FFT sizes, recur from image to image."""
    key = (transform.name, depth_node, lateral_node, shape)
    if key not in bank.spectra:
        if len(bank.spectra) >= SPECTRA_KEPT * bank.kernels.shape[0] * bank.kernels.shape[1]:
            bank.spectra.clear()  # sizes that no longer recur (another image size): start afresh
        kernel = np.pad(bank.kernels[depth_node, lateral_node], ((0, 0), (DOWNSHIFT_PAD, DOWNSHIFT_PAD)))
        bank.spectra[key] = transform.kernel(kernel, shape)
    return bank.spectra[key]


# FFT sizes kept per node (a few per node: the regions of phantoms of one size vary by a line or two)
SPECTRA_KEPT = 3


# DECISION: one thread per FFT. A node's FFTs are small (about 200 x 250): with 2 workers scipy
# spends more on its threads than it gains (ovary image, 2 numba threads: 0.33-0.34 CPU s with 2
# FFT workers, 0.28-0.29 with 1; bench/RESULTS.md, "Fast engine")
FFT_WORKERS = 1


class _NumpyTransforms:
    """FFTs of the convolution by scipy.fft in single precision (the lines are complex64)."""
    name = "numpy"

    @staticmethod
    def axial(blocks: np.ndarray, n: int, factors: np.ndarray) -> np.ndarray:
        """Blocks (layers, lines, samples) along the samples to their spectra, each times its
        layer's factor, summed over the layers."""
        spectra = fft.fft(blocks.astype(np.complex64), n=n, axis=2, workers=FFT_WORKERS)
        spectra *= factors.astype(np.float32)[:, None, :]
        return spectra.sum(axis=0)

    @staticmethod
    def kernel(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        return fft.fft2(kernel.astype(np.complex64), s=shape, workers=FFT_WORKERS)

    @staticmethod
    def finish(spectrum: np.ndarray, kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        spectrum = fft.fft(spectrum, n=shape[0], axis=0, workers=FFT_WORKERS, overwrite_x=True)
        spectrum *= kernel
        return fft.ifft2(spectrum, workers=FFT_WORKERS, overwrite_x=True)


class _TorchTransforms:
    """The same FFTs with torch, on CUDA when present (the GPU path)."""
    name = "torch"

    def __init__(self):
        import torch
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"

    def axial(self, blocks: np.ndarray, n: int, factors: np.ndarray):
        torch = self.torch
        spectra = torch.fft.fft(torch.as_tensor(blocks.astype(np.complex64), device=self.device), n=n, dim=2)
        return (spectra * torch.as_tensor(factors.astype(np.float32), device=self.device)[:, None, :]).sum(dim=0)

    def kernel(self, kernel: np.ndarray, shape: tuple[int, int]):
        return self.torch.fft.fft2(self.torch.as_tensor(kernel.astype(np.complex64), device=self.device), s=shape)

    def finish(self, spectrum, kernel, shape: tuple[int, int]) -> np.ndarray:
        torch = self.torch
        spectrum = torch.fft.fft(spectrum, n=shape[0], dim=0)
        return torch.fft.ifft2(spectrum * kernel).cpu().numpy()


def _transforms(backend: str):
    return _NumpyTransforms() if backend == "numpy" else _TorchTransforms()
