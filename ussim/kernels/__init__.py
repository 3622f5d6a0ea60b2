"""Pulse-echo kernels: the per-pair physics once (physics.py), compiled for the CPU (cpu.py,
numba prange) and for the GPU (cuda.py, numba.cuda)."""
