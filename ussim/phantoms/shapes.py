"""Deformed ellipses: the one shape both organs' generators are built from.

An ellipse with semi-axes (a, b), rotated by `angle`, whose boundary radius is modulated by a
few low-order Fourier terms: r(theta) = 1 + sum_k c_k cos(k theta + phi_k). Low orders keep
the outline smooth and organic (PAPER: SpeckleGAN, "GAN evaluation": "randomly rotated and
disturbed ellipses" for its IVUS masks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ORDERS = (2, 3, 4)


@dataclass(frozen=True)
class Blob:
    cx: float          # m
    cz: float          # m
    a: float           # m, semi-axis along the rotated x
    b: float           # m, semi-axis along the rotated z
    angle: float       # rad
    wobble: tuple[float, ...] = (0.0, 0.0, 0.0)   # Fourier amplitudes per order
    phase: tuple[float, ...] = (0.0, 0.0, 0.0)

    def contains(self, x: np.ndarray, z: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Points inside the blob grown by `margin` (m) along its radius."""
        dx, dz = x - self.cx, z - self.cz
        u = dx * np.cos(self.angle) + dz * np.sin(self.angle)
        v = -dx * np.sin(self.angle) + dz * np.cos(self.angle)
        theta = np.arctan2(v / self.b, u / self.a)
        boundary = 1 + sum(c * np.cos(k * theta + p) for k, c, p in zip(ORDERS, self.wobble, self.phase, strict=True))
        scale = 1 + margin / min(self.a, self.b)
        return np.hypot(u / self.a, v / self.b) <= boundary * scale

    @property
    def extent(self) -> float:
        """Radius (m) of a circle around the centre that holds the whole blob."""
        return max(self.a, self.b) * (1 + sum(abs(c) for c in self.wobble))


def random_blob(rng: np.random.Generator, cx: float, cz: float, a: float, b: float, *,
                wobble: float = 0.08, angle: float | None = None) -> Blob:
    """A blob with random rotation (unless given) and Fourier wobble of up to `wobble` per order."""
    return Blob(cx, cz, a, b, rng.uniform(0, np.pi) if angle is None else angle,
                tuple(rng.uniform(0, wobble, len(ORDERS))), tuple(rng.uniform(0, 2 * np.pi, len(ORDERS))))
