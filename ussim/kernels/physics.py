"""Per scatterer-element physics, written once and compiled by both numba.njit (CPU) and
numba.cuda.jit(device=True) (GPU) through `compile_with`, so that the devices cannot drift apart.

Times are in samples of the engine's accumulation grid; gains are complex amplitudes that
already carry the phase exp(-i w0 r / c) of the path.
"""

import math


def compile_with(jit):
    """`element_term` compiled by `jit` (numba resolves a helper from the caller's closure)."""
    lookup = jit(table_lookup)

    def element_term(sx, sy, sz, ex, ez, nx, nz,
                     width_table, width_r0, width_dr, width_u0, width_du,
                     height_table, height_r0, height_dr, height_u0, height_du,
                     wavenumber, samples_per_metre):
        """One-way delay (samples) and complex gain between a scatterer and an element.

        The element sits at (ex, 0, ez) with its normal (nx, nz) in the imaging plane; behind
        the element (baffle) the gain is zero. Gain = E_w * E_h * cos(theta) / r * exp(-i k r).
        The scatterer's own amplitude is not in it: an echo is a transmit gain times a receive
        gain, and the amplitude must enter once (the accumulation applies it).
        """
        dx = sx - ex
        dz = sz - ez
        along = dx * nx + dz * nz
        r = math.sqrt(dx * dx + dz * dz + sy * sy)
        if along <= 0.0 or r == 0.0:
            return r * samples_per_metre, 0j  # behind the element: no echo, but a true delay
        lateral = dx * nz - dz * nx
        gain = (lookup(width_table, width_r0, width_dr, width_u0, width_du, r, lateral / r)
                * lookup(height_table, height_r0, height_dr, height_u0, height_du, r, sy / r))
        scale = along / (r * r)
        phase = wavenumber * r
        return r * samples_per_metre, gain * scale * complex(math.cos(phase), -math.sin(phase))

    return jit(element_term)


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

