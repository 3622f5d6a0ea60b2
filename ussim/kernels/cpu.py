"""CPU kernels: numba, parallel over scatterers (element terms), then over receive channels."""

import numba
import numpy as np

from ussim.kernels import physics

BLOCK = 4096  # scatterers per call: the per-block arrays stay in cache
_amplitude, _path_phase, _monostatic_echo, _box_samples, _receive_box = physics.compile_with(numba.njit)


@numba.njit(parallel=True, cache=True, fastmath=True)
def element_terms(sx, sy, sz, ex, ez, nx, nz, wt, wr0, wdr, wu0, wdu, ht, hr0, hdr, hu0, hdu,
                  wavenumber, samples_per_metre, box_per_sine, tau, gain_re, gain_im, box):
    """tau[s, e] (grid samples), gain[s, e] and box[s, e] for every scatterer s and element e.

    box is the duration (grid samples) of the element's far-field impulse response along its
    width seen from the scatterer: w |sine| / c, box_per_sine = w fine_rate / c (0: no box).
    Two loops per scatterer: the table lookups (scalar gathers) first, then the path phase,
    which vectorises once the gathers are out of its loop (about 30 % faster).
    """
    n_e = ex.size
    for s in numba.prange(sx.size):
        distance = np.empty(n_e)
        amp_re = np.empty(n_e)
        amp_im = np.empty(n_e)
        sine = np.empty(n_e)
        for e in range(n_e):
            distance[e], amp_re[e], amp_im[e], sine[e] = _amplitude(sx[s], sy[s], sz[s], ex[e], ez[e], nx[e], nz[e],
                                                                    wt, wr0, wdr, wu0, wdu, ht, hr0, hdr, hu0, hdu)
        tau_s = tau[s]  # row views: the loop below then vectorises
        re_s = gain_re[s]
        im_s = gain_im[s]
        box_s = box[s]
        for e in range(n_e):
            tau_s[e] = distance[e] * samples_per_metre
            re_s[e], im_s[e] = _path_phase(distance[e], amp_re[e], amp_im[e], wavenumber)
            box_s[e] = abs(sine[e]) * box_per_sine


@numba.njit(parallel=True, cache=True, fastmath=True)
def accumulate(tau, gain_re, gain_im, box, amplitude, tx_element, tx_shift, tx_weight_re, tx_weight_im, rx_element,
               lead_re, lead_im, turn_re, turn_im, acc):
    """Add every (scatterer, tx element, rx element) echo into acc[rx, sample] (complex64 baseband).

    The echo's phase is exact (carried by the gains). Its envelope is the pulse convolved with
    the transmit and the receive element's box (their far-field impulse responses along the
    width, n_tx and n_rx grid samples, centred on the echo's time to the nearest sample); acc
    holds it as the second difference of that trapezoid (four samples: 1, -turn[n_tx],
    -turn[n_rx], turn[n_tx] turn[n_rx], scaled by lead[n_tx] lead[n_rx]), which the engine's
    pulse filter (the pulse twice integrated) turns into the echo. Each receive channel is one
    thread's, so no atomics are needed; per scatterer the positions and values are computed in
    buffers first (vectorised), then scattered.
    """
    n_s = tau.shape[0]
    n_tx = tx_element.size
    n_max = lead_re.size - 1
    tx_tau = np.empty((n_s, n_tx), np.float32)
    tx_re = np.empty((n_s, n_tx), np.float32)
    tx_im = np.empty((n_s, n_tx), np.float32)
    end_re = np.empty((n_s, n_tx), np.float32)
    end_im = np.empty((n_s, n_tx), np.float32)
    tx_box = np.empty((n_s, n_tx), np.int32)
    boxed = n_max > 0  # without boxes (lead of one entry) every echo is one sample, as before
    for s in numba.prange(n_s):
        for k in range(n_tx):
            e = tx_element[k]
            n = _box_samples(box[s, e], n_max) if boxed else 1
            # +0.5: round to nearest; the box starts half its length before the echo's time
            tx_tau[s, k] = tau[s, e] + tx_shift[k] + np.float32(0.5) - np.float32(0.5 * (n - 1))
            w_re = tx_weight_re[k] * amplitude[s]
            w_im = tx_weight_im[k] * amplitude[s]
            a_re = gain_re[s, e] * w_re - gain_im[s, e] * w_im
            a_im = gain_re[s, e] * w_im + gain_im[s, e] * w_re
            v_re = a_re * lead_re[n] - a_im * lead_im[n] if boxed else a_re
            v_im = a_re * lead_im[n] + a_im * lead_re[n] if boxed else a_im
            tx_re[s, k] = v_re
            tx_im[s, k] = v_im
            end_re[s, k] = v_re * turn_re[n] - v_im * turn_im[n]
            end_im[s, k] = v_re * turn_im[n] + v_im * turn_re[n]
            tx_box[s, k] = n
    for j in numba.prange(rx_element.size):
        row = acc[j]
        index = np.empty(n_tx, np.int32)
        v1_re = np.empty(n_tx, np.float32)
        v1_im = np.empty(n_tx, np.float32)
        v2_re = np.empty(n_tx, np.float32)
        v2_im = np.empty(n_tx, np.float32)
        v3_re = np.empty(n_tx, np.float32)
        v3_im = np.empty(n_tx, np.float32)
        v4_re = np.empty(n_tx, np.float32)
        v4_im = np.empty(n_tx, np.float32)
        e_rx = rx_element[j]
        for s in range(n_s):
            g_re = gain_re[s, e_rx]
            g_im = gain_im[s, e_rx]
            if g_re == 0 and g_im == 0:
                continue
            tx_tau_s = tx_tau[s]  # row views: the loops below then vectorise
            tx_re_s = tx_re[s]
            tx_im_s = tx_im[s]
            if not boxed:
                t_rx = tau[s, e_rx]
                for k in range(n_tx):
                    index[k] = np.int32(tx_tau_s[k] + t_rx)
                    v1_re[k] = tx_re_s[k] * g_re - tx_im_s[k] * g_im
                    v1_im[k] = tx_re_s[k] * g_im + tx_im_s[k] * g_re
                for k in range(n_tx):
                    row[index[k]] += np.complex64(v1_re[k] + 1j * v1_im[k])
                continue
            m, t_rx, r_re, r_im, c_re, c_im = _receive_box(box[s, e_rx], tau[s, e_rx], g_re, g_im, n_max,
                                                           lead_re, lead_im, turn_re, turn_im)
            end_re_s = end_re[s]
            end_im_s = end_im[s]
            for k in range(n_tx):
                index[k] = np.int32(tx_tau_s[k] + t_rx)
                a_re = tx_re_s[k] * r_re - tx_im_s[k] * r_im
                a_im = tx_re_s[k] * r_im + tx_im_s[k] * r_re
                b_re = end_re_s[k] * r_re - end_im_s[k] * r_im
                b_im = end_re_s[k] * r_im + end_im_s[k] * r_re
                v1_re[k] = a_re
                v1_im[k] = a_im
                v2_re[k] = b_re
                v2_im[k] = b_im
                v3_re[k] = a_re * c_re - a_im * c_im
                v3_im[k] = a_re * c_im + a_im * c_re
                v4_re[k] = b_re * c_re - b_im * c_im
                v4_im[k] = b_re * c_im + b_im * c_re
            tx_box_s = tx_box[s]
            for k in range(n_tx):
                i = index[k]
                n = tx_box_s[k]
                row[i] += np.complex64(v1_re[k] + 1j * v1_im[k])
                row[i + n] += np.complex64(v2_re[k] + 1j * v2_im[k])
                row[i + m] += np.complex64(v3_re[k] + 1j * v3_im[k])
                row[i + n + m] += np.complex64(v4_re[k] + 1j * v4_im[k])


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
