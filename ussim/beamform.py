"""Delay-and-sum beamforming with dynamic receive focusing and an f-number-limited aperture.

Channel RF becomes analytic by scipy's Hilbert transform and is demodulated to IQ, which varies
slowly enough for linear interpolation; each beamformed sample sums the channels' IQ at the
round-trip time of its point, re-modulated to the carrier. The result is the analytic signal of
the beamformed RF line: its real part is the RF, its magnitude the envelope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy import signal

from ussim import scan
from ussim.engine import ChannelData, Transmit
from ussim.errors import UsageError
from ussim.probe import SPEED_OF_SOUND, Probe
from ussim.transmit import WINDOWS


@dataclass
class Beamformed:
    lines: np.ndarray          # complex64 (n_lines, n_samples): analytic beamformed signal
    geometry: object           # scan.LinearLines | SectorLines | RadialLines; None for a single line


@numba.njit(parallel=True, cache=True, fastmath=True)
def _das(iq, t0, fs, f0, ex, ez, nx, nz, px, pz, t_tx, f_number, window_code, out):
    n_rx, n_t = iq.shape
    two_pi_f0 = 2 * math.pi * f0
    for p in numba.prange(px.size):
        total = 0j
        for j in range(n_rx):
            dx = px[p] - ex[j]
            dz = pz[p] - ez[j]
            along = dx * nx[j] + dz * nz[j]
            if along <= 0:
                continue
            u = (dx * nz[j] - dz * nx[j]) * 2 * f_number / along  # |u| <= 1 inside the aperture
            if abs(u) > 1:
                continue
            if window_code == 1:
                weight = math.cos(math.pi * u / 2) ** 2
            elif window_code == 2:
                weight = 1.0 if abs(u) <= 0.5 else math.cos(math.pi * (abs(u) - 0.5)) ** 2
            else:
                weight = 1.0
            tau = t_tx[p] + math.sqrt(dx * dx + dz * dz) / SPEED_OF_SOUND
            position = (tau - t0) * fs
            i = int(position)
            if i < 0 or i >= n_t - 1:
                continue
            a = position - i
            value = iq[j, i] * (1 - a) + iq[j, i + 1] * a
            total += weight * value * complex(math.cos(two_pi_f0 * tau), math.sin(two_pi_f0 * tau))
        out[p] = total


def transmit_time(event: Transmit, px: np.ndarray, pz: np.ndarray) -> np.ndarray:
    """Time (s) at which the transmitted wave reaches each point (virtual-source model)."""
    ex, ez, _ = event.elements
    if event.kind == "plane":
        offset = np.min(ex[event.tx] * np.sin(event.direction))
        return (px * np.sin(event.direction) + pz * np.cos(event.direction) - offset) / SPEED_OF_SOUND
    if event.kind == "single":
        return np.hypot(px - ex[event.tx[0]], pz - ez[event.tx[0]]) / SPEED_OF_SOUND
    if event.kind == "diverging":  # the wave leaves the arc (radius R about `origin`) at t = 0
        ox, oz = event.origin
        return (np.hypot(px - ox, pz - oz) - np.hypot(ex[0] - ox, ez[0] - oz)) / SPEED_OF_SOUND
    ox, oz = event.origin
    fx, fz = ox + event.focus * np.sin(event.direction), oz + event.focus * np.cos(event.direction)
    t_focus = np.max(np.hypot(ex[event.tx] - fx, ez[event.tx] - fz)) / SPEED_OF_SOUND
    along = (px - ox) * np.sin(event.direction) + (pz - oz) * np.cos(event.direction)
    return t_focus + np.sign(along - event.focus) * np.hypot(px - fx, pz - fz) / SPEED_OF_SOUND


def beamform(channels: ChannelData, events: list[Transmit], probe: Probe, radii: np.ndarray, *,
             f_number: float = 1.5, apodization: str = "hann", line_x: np.ndarray | None = None,
             line_angles: np.ndarray | None = None) -> Beamformed:
    """Beamform every event into image lines sampled at `radii` (m) along each line.

    Focused and IVUS events give one line each (radii measured from the line's origin); plane
    waves give lines at `line_x` (default: the element positions), radii being depths; a
    convex array's diverging waves give lines at `line_angles` (default: the element angles),
    radii measured from the array's face. Plane and diverging waves compound by summation.
    """
    if apodization not in WINDOWS:
        raise UsageError(f"unknown apodization '{apodization}' (allowed: {', '.join(WINDOWS)})")
    if not f_number > 0:
        raise UsageError(f"receive f-number {f_number:g} must be positive")
    radii = np.asarray(radii, np.float64)
    fs = channels.sampling_frequency
    t = channels.t0 + np.arange(channels.rf.shape[-1]) / fs
    analytic = signal.hilbert(channels.rf, axis=-1)
    iq = (analytic * np.exp(-2j * np.pi * probe.center_frequency * t)).astype(np.complex64)
    code = WINDOWS.index(apodization)
    plane = events[0].kind in ("plane", "diverging")
    if events[0].kind == "diverging":
        angles = events[0].elements[2] if line_angles is None else np.asarray(line_angles, np.float64)
        ox, oz = events[0].origin
        arc = probe.radius + radii
        px = ox + np.sin(angles)[:, None] * arc[None, :]
        pz = oz + np.cos(angles)[:, None] * arc[None, :]
        lines = np.zeros(px.shape, np.complex128)
    elif plane:
        xs = events[0].elements[0] if line_x is None else np.asarray(line_x, np.float64)
        px, pz = np.meshgrid(xs, radii, indexing="ij")
        lines = np.zeros(px.shape, np.complex128)
    else:
        lines = np.zeros((len(events), radii.size), np.complex128)
    for index, event in enumerate(events):
        ex, ez, angle = (np.asarray(a, np.float64) for a in event.elements)
        rx = event.rx
        if not plane:
            ox, oz = event.origin
            px = ox + radii * np.sin(event.direction)
            pz = oz + radii * np.cos(event.direction)
        out = np.zeros(px.size, np.complex128)
        _das(iq[index, : rx.size], channels.t0, fs, probe.center_frequency, ex[rx], ez[rx], np.sin(angle[rx]),
             np.cos(angle[rx]), px.ravel(), pz.ravel(), transmit_time(event, px.ravel(), pz.ravel()),
             f_number, code, out)
        if plane:
            lines += out.reshape(px.shape)
        else:
            lines[index] = out
    geometry = line_geometry(events, probe, radii, line_x=line_x, line_angles=line_angles) \
        if lines.shape[0] > 1 else None
    return Beamformed(lines.astype(np.complex64), geometry)


def line_geometry(events: list[Transmit], probe: Probe, radii: np.ndarray, *, line_x: np.ndarray | None = None,
                  line_angles: np.ndarray | None = None):
    """Where `beamform` puts its lines (same arguments): a scan geometry of more than one line.
    Also the beam grid of ussim.fast, which accumulates scatterers on it without beamforming."""
    radii = np.asarray(radii, np.float64)
    if events[0].kind == "diverging":
        angles = events[0].elements[2] if line_angles is None else np.asarray(line_angles, np.float64)
        return scan.SectorLines(angles=angles, radii=radii + probe.radius, apex_x=0.0, apex_z=-probe.radius)
    if events[0].kind == "plane":
        return scan.LinearLines(x=events[0].elements[0] if line_x is None else np.asarray(line_x, np.float64),
                                z=radii)
    if probe.kind == "linear":
        return scan.LinearLines(x=np.array([ev.origin[0] for ev in events]), z=radii)
    angles = np.array([ev.direction for ev in events])
    if probe.kind == "ivus":
        return scan.RadialLines(angles=angles, radii=radii + probe.catheter_radius, dead_zone=probe.dead_zone)
    if probe.kind == "convex":
        return scan.SectorLines(angles=angles, radii=radii + probe.radius, apex_x=0.0, apex_z=-probe.radius)
    return scan.SectorLines(angles=angles, radii=radii, apex_x=0.0, apex_z=0.0)
