"""GPU kernels (numba.cuda): the same physics as cpu.py, one thread per pair, atomics to sum.

The host wrappers take and return numpy arrays with the CPU kernels' signatures, so the engine
calls either backend the same way. Float32 arithmetic follows the CPU kernels' order (delay
sums rounded to float32 before the nearest-sample index), so both put each echo in the same
sample; what differs is the order of the atomic sums.
"""

import numpy as np
from numba import cuda

from ussim.kernels import physics

BLOCK = 65536  # scatterers per launch: enough threads to fill a GPU
_amplitude, _path_phase, _monostatic_echo, _box_samples, _receive_box = physics.compile_with(
    lambda function: cuda.jit(device=True)(function))
THREADS = (16, 16)


@cuda.jit
def _element_terms(sx, sy, sz, ex, ez, nx, nz, wt, wr0, wdr, wu0, wdu, ht, hr0, hdr, hu0, hdu,
                   wavenumber, samples_per_metre, box_per_sine, tau, gain_re, gain_im, box):
    s, e = cuda.grid(2)
    if s < sx.size and e < ex.size:
        r, re, im, sine = _amplitude(sx[s], sy[s], sz[s], ex[e], ez[e], nx[e], nz[e],
                                     wt, wr0, wdr, wu0, wdu, ht, hr0, hdr, hu0, hdu)
        tau[s, e] = r * samples_per_metre
        gain_re[s, e], gain_im[s, e] = _path_phase(r, re, im, wavenumber)
        box[s, e] = abs(sine) * box_per_sine


@cuda.jit
def _accumulate(tau, gain_re, gain_im, box, amplitude, tx_element, tx_shift, tx_weight_re, tx_weight_im, rx_element,
                lead_re, lead_im, turn_re, turn_im, acc):
    """acc is float32 (n_rx, 2 n_samples): real and imaginary parts interleaved. The four
    samples of each echo's trapezoid as in cpu.accumulate, in its float32 order."""
    s, j = cuda.grid(2)
    if s >= tau.shape[0] or j >= rx_element.size:
        return
    e_rx = rx_element[j]
    g_re = gain_re[s, e_rx]
    g_im = gain_im[s, e_rx]
    if g_re == 0 and g_im == 0:
        return
    n_max = lead_re.size - 1
    if n_max == 0:  # without boxes every echo is one sample, as before
        t_rx = tau[s, e_rx]
        for k in range(tx_element.size):
            e = tx_element[k]
            tx_tau = tau[s, e] + tx_shift[k] + np.float32(0.5)
            i = np.int32(tx_tau + t_rx)
            w_re = tx_weight_re[k] * amplitude[s]
            w_im = tx_weight_im[k] * amplitude[s]
            a_re = gain_re[s, e] * w_re - gain_im[s, e] * w_im
            a_im = gain_re[s, e] * w_im + gain_im[s, e] * w_re
            cuda.atomic.add(acc, (j, 2 * i), a_re * g_re - a_im * g_im)
            cuda.atomic.add(acc, (j, 2 * i + 1), a_re * g_im + a_im * g_re)
        return
    m, t_rx, r_re, r_im, c_re, c_im = _receive_box(box[s, e_rx], tau[s, e_rx], g_re, g_im, n_max,
                                                   lead_re, lead_im, turn_re, turn_im)
    for k in range(tx_element.size):
        e = tx_element[k]
        n = _box_samples(box[s, e], n_max)
        tx_tau = tau[s, e] + tx_shift[k] + np.float32(0.5) - np.float32(0.5 * (n - 1))
        i = np.int32(tx_tau + t_rx)
        w_re = tx_weight_re[k] * amplitude[s]
        w_im = tx_weight_im[k] * amplitude[s]
        a_re = gain_re[s, e] * w_re - gain_im[s, e] * w_im
        a_im = gain_re[s, e] * w_im + gain_im[s, e] * w_re
        v_re = a_re * lead_re[n] - a_im * lead_im[n]
        v_im = a_re * lead_im[n] + a_im * lead_re[n]
        end_re = v_re * turn_re[n] - v_im * turn_im[n]
        end_im = v_re * turn_im[n] + v_im * turn_re[n]
        a_re = v_re * r_re - v_im * r_im
        a_im = v_re * r_im + v_im * r_re
        b_re = end_re * r_re - end_im * r_im
        b_im = end_re * r_im + end_im * r_re
        cuda.atomic.add(acc, (j, 2 * i), a_re)
        cuda.atomic.add(acc, (j, 2 * i + 1), a_im)
        cuda.atomic.add(acc, (j, 2 * (i + n)), b_re)
        cuda.atomic.add(acc, (j, 2 * (i + n) + 1), b_im)
        cuda.atomic.add(acc, (j, 2 * (i + m)), a_re * c_re - a_im * c_im)
        cuda.atomic.add(acc, (j, 2 * (i + m) + 1), a_re * c_im + a_im * c_re)
        cuda.atomic.add(acc, (j, 2 * (i + n + m)), b_re * c_re - b_im * c_im)
        cuda.atomic.add(acc, (j, 2 * (i + n + m) + 1), b_re * c_im + b_im * c_re)


@cuda.jit
def _accumulate_monostatic(tau, gain_re, gain_im, amplitude, acc):
    s, e = cuda.grid(2)
    if s >= tau.shape[0] or e >= tau.shape[1]:
        return
    g_re = gain_re[s, e]
    g_im = gain_im[s, e]
    if g_re == 0 and g_im == 0:
        return
    i, v_re, v_im = _monostatic_echo(tau[s, e], g_re, g_im, amplitude[s])
    cuda.atomic.add(acc, (e, 2 * i), v_re)
    cuda.atomic.add(acc, (e, 2 * i + 1), v_im)


def _blocks(shape):
    return tuple((n + t - 1) // t for n, t in zip(shape, THREADS, strict=True))


def element_terms(sx, sy, sz, ex, ez, nx, nz, wt, wr0, wdr, wu0, wdu, ht, hr0, hdr, hu0, hdu,
                  wavenumber, samples_per_metre, box_per_sine, tau, gain_re, gain_im, box):
    """Same contract as cpu.element_terms (numpy in, numpy out)."""
    device = [cuda.to_device(np.ascontiguousarray(a)) for a in (sx, sy, sz, ex, ez, nx, nz, wt, ht)]
    outputs = [cuda.device_array(a.shape, a.dtype) for a in (tau, gain_re, gain_im, box)]
    d_sx, d_sy, d_sz, d_ex, d_ez, d_nx, d_nz, d_wt, d_ht = device
    _element_terms[_blocks((sx.size, ex.size)), THREADS](
        d_sx, d_sy, d_sz, d_ex, d_ez, d_nx, d_nz, d_wt, wr0, wdr, wu0, wdu, d_ht, hr0, hdr, hu0, hdu,
        wavenumber, samples_per_metre, box_per_sine, *outputs)
    for host, dev in zip((tau, gain_re, gain_im, box), outputs, strict=True):
        host[...] = dev.copy_to_host()


def accumulate(tau, gain_re, gain_im, box, amplitude, tx_element, tx_shift, tx_weight_re, tx_weight_im, rx_element,
               lead_re, lead_im, turn_re, turn_im, acc):
    """Same contract as cpu.accumulate: adds into the complex64 numpy array `acc` in place."""
    interleaved = acc.view(np.float32)
    d_acc = cuda.to_device(interleaved)
    arrays = [cuda.to_device(np.ascontiguousarray(a)) for a in
              (tau, gain_re, gain_im, box, amplitude, tx_element, tx_shift, tx_weight_re, tx_weight_im, rx_element,
               lead_re, lead_im, turn_re, turn_im)]
    _accumulate[_blocks((tau.shape[0], rx_element.size)), THREADS](*arrays, d_acc)
    interleaved[...] = d_acc.copy_to_host()


def accumulate_monostatic(tau, gain_re, gain_im, amplitude, acc):
    """Same contract as cpu.accumulate_monostatic."""
    interleaved = acc.view(np.float32)
    d_acc = cuda.to_device(interleaved)
    arrays = [cuda.to_device(np.ascontiguousarray(a)) for a in (tau, gain_re, gain_im, amplitude)]
    _accumulate_monostatic[_blocks(tau.shape), THREADS](*arrays, d_acc)
    interleaved[...] = d_acc.copy_to_host()
