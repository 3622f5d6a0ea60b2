"""CPU kernels: numba, parallel over scatterers (element terms), then over receive channels."""

import numba
import numpy as np

from ussim.kernels import physics

BLOCK = 4096  # scatterers per call: the per-block arrays stay in cache
_amplitude, _path_phase, _monostatic_echo = physics.compile_with(numba.njit)


@numba.njit(parallel=True, cache=True, fastmath=True)
def element_terms(sx, sy, sz, ex, ez, nx, nz, wt, wr0, wdr, wu0, wdu, ht, hr0, hdr, hu0, hdu,
                  wavenumber, samples_per_metre, tau, gain_re, gain_im):
    """tau[s, e] (grid samples) and gain[s, e] for every scatterer s and element e.

    Two loops per scatterer: the table lookups (scalar gathers) first, then the path phase,
    which vectorises once the gathers are out of its loop (about 30 % faster).
    """
    n_e = ex.size
    for s in numba.prange(sx.size):
        distance = np.empty(n_e)
        amp_re = np.empty(n_e)
        amp_im = np.empty(n_e)
        for e in range(n_e):
            distance[e], amp_re[e], amp_im[e] = _amplitude(sx[s], sy[s], sz[s], ex[e], ez[e], nx[e], nz[e],
                                                           wt, wr0, wdr, wu0, wdu, ht, hr0, hdr, hu0, hdu)
        tau_s = tau[s]  # row views: the loop below then vectorises
        re_s = gain_re[s]
        im_s = gain_im[s]
        for e in range(n_e):
            tau_s[e] = distance[e] * samples_per_metre
            re_s[e], im_s[e] = _path_phase(distance[e], amp_re[e], amp_im[e], wavenumber)


@numba.njit(parallel=True, cache=True, fastmath=True)
def accumulate(tau, gain_re, gain_im, amplitude, tx_element, tx_shift, tx_weight_re, tx_weight_im, rx_element,
               acc):
    """Add every (scatterer, tx element, rx element) echo into acc[rx, sample] (complex64 baseband).

    The echo's phase is exact (carried by the gains); its envelope goes to the nearest sample
    of the oversampled grid. Each receive channel is one thread's, so no atomics are needed;
    per scatterer the positions and values are computed in buffers first (vectorised), then
    scattered.
    """
    n_s = tau.shape[0]
    n_tx = tx_element.size
    tx_tau = np.empty((n_s, n_tx), np.float32)
    tx_re = np.empty((n_s, n_tx), np.float32)
    tx_im = np.empty((n_s, n_tx), np.float32)
    for s in numba.prange(n_s):
        for k in range(n_tx):
            e = tx_element[k]
            tx_tau[s, k] = tau[s, e] + tx_shift[k] + np.float32(0.5)  # +0.5: round to nearest
            w_re = tx_weight_re[k] * amplitude[s]
            w_im = tx_weight_im[k] * amplitude[s]
            tx_re[s, k] = gain_re[s, e] * w_re - gain_im[s, e] * w_im
            tx_im[s, k] = gain_re[s, e] * w_im + gain_im[s, e] * w_re
    for j in numba.prange(rx_element.size):
        row = acc[j]
        index = np.empty(n_tx, np.int32)
        value_re = np.empty(n_tx, np.float32)
        value_im = np.empty(n_tx, np.float32)
        e_rx = rx_element[j]
        for s in range(n_s):
            g_re = gain_re[s, e_rx]
            g_im = gain_im[s, e_rx]
            if g_re == 0 and g_im == 0:
                continue
            t_rx = tau[s, e_rx]
            tx_tau_s = tx_tau[s]  # row views: the loop below then vectorises
            tx_re_s = tx_re[s]
            tx_im_s = tx_im[s]
            for k in range(n_tx):
                index[k] = np.int32(tx_tau_s[k] + t_rx)
                value_re[k] = tx_re_s[k] * g_re - tx_im_s[k] * g_im
                value_im[k] = tx_re_s[k] * g_im + tx_im_s[k] * g_re
            for k in range(n_tx):
                row[index[k]] += np.complex64(value_re[k] + 1j * value_im[k])


# Rows filled above this fraction convolve faster by gathering than by scattering (measured on
# 256 rows of 13000 samples with a 97-tap filter: equal cost near 0.35).
SCATTER_BELOW_FILL = 0.35


@numba.njit(parallel=True, cache=True, fastmath=True)
def add_decimated_convolution(acc, lo, hi, g, centre, step, out):
    """out[:, q] += sum_m acc[:, m] g[centre + q step - m] over m in [lo, hi), all q of out.

    Hand-written because only every `step`-th sample of the convolution is needed (scipy's
    fftconvolve computes all of them; upfirdn was 25x slower on these complex rows) and because
    fine-grid rows are often sparse (one attenuation bin's echoes touch few of their samples).
    A dense row gathers each output from the reversed filter; a sparse row scatters each
    non-zero sample through the polyphase component of the filter its phase selects. Both
    inner loops run over contiguous memory, so they vectorise.
    """
    n_g = g.size
    taps = (n_g + step - 1) // step
    reversed_re = np.empty(n_g, np.float32)
    reversed_im = np.empty(n_g, np.float32)
    phase_re = np.zeros((step, taps), np.float32)  # phase_re[p, k] = Re g[p + k step]
    phase_im = np.zeros((step, taps), np.float32)
    for i in range(n_g):
        reversed_re[i] = g[n_g - 1 - i].real
        reversed_im[i] = g[n_g - 1 - i].imag
        phase_re[i % step, i // step] = g[i].real
        phase_im[i % step, i // step] = g[i].imag
    for j in numba.prange(out.shape[0]):
        filled = 0
        for m in range(lo, hi):
            if acc[j, m].real != 0 or acc[j, m].imag != 0:
                filled += 1
        if filled == 0:
            continue
        if filled < SCATTER_BELOW_FILL * (hi - lo):
            _scatter_row(acc[j], lo, hi, phase_re, phase_im, n_g, centre, step, out[j])
        else:
            _gather_row(acc[j], lo, hi, reversed_re, reversed_im, centre, step, out[j])


@numba.njit(cache=True, fastmath=True)
def _gather_row(row, lo, hi, reversed_re, reversed_im, centre, step, target):
    n_g = reversed_re.size
    q_first = max(0, (lo - centre + step - 1) // step)
    q_last = min(target.size, (hi - 1 + n_g - 1 - centre) // step + 1)
    for q in range(q_first, q_last):
        t = q * step + centre
        offset = n_g - 1 - t  # reversed filter index of sample m is m + offset
        total_re = np.float32(0)
        total_im = np.float32(0)
        for m in range(max(lo, t - n_g + 1), min(hi, t + 1)):
            a = row[m]
            total_re += a.real * reversed_re[m + offset] - a.imag * reversed_im[m + offset]
            total_im += a.real * reversed_im[m + offset] + a.imag * reversed_re[m + offset]
        target[q] += np.complex64(total_re + 1j * total_im)


@numba.njit(cache=True, fastmath=True)
def _scatter_row(row, lo, hi, phase_re, phase_im, n_g, centre, step, target):
    taps = phase_re.shape[1]
    for m in range(lo, hi):
        a = row[m]
        if a.real == 0 and a.imag == 0:
            continue
        p = (centre - m) % step  # filter index i = q step - (m - centre) = p + k step
        q0 = (p + m - centre) // step
        for k in range(max(0, -q0), min(taps, target.size - q0)):
            if p + k * step >= n_g:
                break
            target[q0 + k] += np.complex64((a.real * phase_re[p, k] - a.imag * phase_im[p, k])
                                           + 1j * (a.real * phase_im[p, k] + a.imag * phase_re[p, k]))


@numba.njit(parallel=True, cache=True, fastmath=True)
def accumulate_monostatic(tau, gain_re, gain_im, amplitude, acc):
    """Each element hears only its own echo (a rotating IVUS element, one A-line per element):
    acc[e, nearest(2 tau)] += amplitude gain^2. Same float32 order as `accumulate`."""
    for e in numba.prange(tau.shape[1]):
        row = acc[e]
        for s in range(tau.shape[0]):
            g_re = gain_re[s, e]
            g_im = gain_im[s, e]
            if g_re == 0 and g_im == 0:
                continue
            i, v_re, v_im = _monostatic_echo(tau[s, e], g_re, g_im, amplitude[s])
            row[i] += np.complex64(v_re + 1j * v_im)
