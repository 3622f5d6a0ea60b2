"""Per scatterer-element physics, written once and compiled by both numba.njit (CPU) and
numba.cuda.jit(device=True) (GPU) through `compile_with`, so that the devices cannot drift apart.

Gains are complex amplitudes; with the path phase exp(-i w0 r / c) they become the terms the
engine sums.
"""

import math

import numpy as np


def compile_with(jit):
    """(element_amplitude, with_path_phase, monostatic_echo, box_samples, receive_box) compiled by `jit`;
    numba resolves the table lookup from the closure. Amplitude and phase are two functions so
    the CPU can run the phase in a separate, vectorisable loop."""
    lookup = jit(table_lookup)

    def element_amplitude(sx, sy, sz, ex, ez, nx, nz,
                          width_table, width_r0, width_dr, width_u0, width_du,
                          height_table, height_r0, height_dr, height_u0, height_du):
        """Distance r (m), complex amplitude between a scatterer and an element without the
        path's phase, and the sine of the scatterer's direction along the element's width.

        The element sits at (ex, 0, ez) with its normal (nx, nz) in the imaging plane; behind
        the element (baffle) the amplitude is zero. Amplitude = E_w * E_h * cos(theta) / r. The
        sine sets how long the element's far-field impulse response lasts along its width
        (w |sine| / c, see ussim.engine): the width directivity at every frequency of the band.
        The scatterer's own amplitude is not in it: an echo is a transmit term times a receive
        term, and the scatterer amplitude must enter once (the accumulation applies it).
        """
        dx = sx - ex
        dz = sz - ez
        along = dx * nx + dz * nz
        r = math.sqrt(dx * dx + dz * dz + sy * sy)
        if along <= 0.0 or r == 0.0:
            return r, 0.0, 0.0, 0.0  # behind the element: no echo, but a true distance
        sine = (dx * nz - dz * nx) / r
        gain = (lookup(width_table, width_r0, width_dr, width_u0, width_du, r, sine)
                * lookup(height_table, height_r0, height_dr, height_u0, height_du, r, sy / r))
        gain = gain * (along / (r * r))
        return r, gain.real, gain.imag, sine

    def with_path_phase(r, re, im, wavenumber):
        """The amplitude times exp(-i k r)."""
        c = math.cos(wavenumber * r)
        s = math.sin(wavenumber * r)
        return re * c + im * s, im * c - re * s

    def monostatic_echo(tau, re, im, amplitude):
        """Echo of a scatterer to the element that sent it (one-way term squared): its sample
        index (nearest, float32 in the order of the general accumulation) and value."""
        a_re = re * amplitude
        a_im = im * amplitude
        index = np.int32((tau + np.float32(0.5)) + tau)
        return index, a_re * re - a_im * im, a_re * im + a_im * re

    def box_samples(box, n_max):
        """The element box's length in whole grid samples (nearest, at least 1: a box of one
        sample is the plain echo), at most n_max."""
        n = np.int32(box + np.float32(0.5))
        return min(max(n, np.int32(1)), np.int32(n_max))

    box_length = jit(box_samples)

    def receive_box(box, tau, g_re, g_im, n_max, lead_re, lead_im, turn_re, turn_im):
        """The receive element's side of an echo's trapezoid (ussim.kernels.cpu.accumulate): its box
        length m, the start of the box on the grid, the receive gain times lead[m], and turn[m]."""
        m = box_length(box, n_max)
        return (m, tau - np.float32(0.5 * (m - 1)), g_re * lead_re[m] - g_im * lead_im[m],
                g_re * lead_im[m] + g_im * lead_re[m], turn_re[m], turn_im[m])

    return jit(element_amplitude), jit(with_path_phase), jit(monostatic_echo), box_length, jit(receive_box)


def table_lookup(values, r0, dr, u0, du, r, u):
    """Bilinear interpolation of an aperture table E(r, u) (see ussim.aperture); clamped at
    the edges."""
    fi = (r - r0) / dr
    fk = (u - u0) / du
    n_r, n_u = values.shape
    fi = min(max(fi, 0.0), n_r - 1.000001)
    fk = min(max(fk, 0.0), n_u - 1.000001)
    i = int(fi)
    k = int(fk)
    a = fi - i
    b = fk - k
    return ((1 - a) * ((1 - b) * values[i, k] + b * values[i, k + 1])
            + a * ((1 - b) * values[i + 1, k] + b * values[i + 1, k + 1]))

