"""How fast this machine is for the demo's work, measured in a few seconds before the demo starts,
so that its expected duration is this machine's, not the one the demo was timed on.

The workload is a small copy of the demo's own: training steps of a small convolutional network
on one torch thread (the demo trains every GAN and the diffusion model so, two at a time: most of
its time) and FFTs (numpy, the simulator's and the metrics' kind of work). Its seconds, against the
same workload's on the machine the demo was timed on (app/demo/defaults.py), scale the measured
duration.

DECISION: one torch thread. On torch's default two threads the same workload took 0.65-1.56 s in
three fresh processes on one machine minutes apart (the second thread waits on the first, and on
whatever else the machine runs); on one thread 0.20-0.36 s at the same time (2026-12-02, load 3).
"""

from __future__ import annotations

import statistics
import time

import numpy as np


def workload_seconds(repeats: int = 5) -> float:
    """Median seconds of the fixed workload (about 0.2 s on a 2-core AMD EPYC)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _timed(torch, repeats)
    finally:
        torch.set_num_threads(threads)


def _timed(torch, repeats: int) -> float:
    generator = torch.Generator().manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(4, 32, 3, padding=1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(32, 1, 3, padding=1))
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    x = torch.randn(8, 4, 64, 64, generator=generator)
    y = torch.randn(8, 1, 64, 64, generator=generator)
    field = np.random.default_rng(0).standard_normal((64, 4096))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(5):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(network(x), y).backward()
            optimizer.step()
        for _ in range(10):
            np.fft.irfft(np.fft.rfft(field, axis=1) * 0.5, n=field.shape[1], axis=1)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def expected_minutes(measured_minutes: float, reference_seconds: float | None, seconds: float) -> float:
    """The demo's measured duration scaled by this machine's workload seconds against the reference's
    (unscaled without a reference)."""
    if not reference_seconds:
        return measured_minutes
    return measured_minutes * seconds / reference_seconds
