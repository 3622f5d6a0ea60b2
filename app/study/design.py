"""The study's design: which anatomy (label mask) each reader sees, and from which source.

Every method images the same held-out masks, so one anatomy exists in up to (1 + methods)
versions, and sketch GANs copy the real image's edges: a reader shown two versions of one
anatomy can match them by eye. So cases are assigned by mask: each reader sees each anatomy at
most once, and the source shown for an anatomy rotates across readers in a cyclic Latin square
(reader row r sees the k-th anatomy from source (k + r) mod M, M = real + methods). Readers
r and r + M share every case (what inter-reader agreement needs); a full cycle of M readers
shows every (anatomy, source) pair exactly once.
"""

from __future__ import annotations

import hashlib

import numpy as np


def anatomy_key(label) -> str:
    """A short identifier of a label mask, equal for equal masks whatever set holds them."""
    pixels = np.ascontiguousarray(np.asarray(label, dtype=np.uint8))
    digest = hashlib.sha256(f"{pixels.shape}".encode() + pixels.tobytes()).hexdigest()
    return digest[:16]


def source_for(anatomy_rank: int, design_row: int, n_sources: int) -> int:
    """The source index (0 = real, then the methods in order) of the anatomy at `anatomy_rank`
    in the study's drawn order, for a reader in `design_row`."""
    return (anatomy_rank + design_row) % n_sources


def source_counts(n_anatomies: int, design_row: int, n_sources: int) -> list[int]:
    """How many cases of each source a reader in `design_row` gets: equal when n_sources divides
    n_anatomies, else differing by one."""
    counts = [0] * n_sources
    for rank in range(n_anatomies):
        counts[source_for(rank, design_row, n_sources)] += 1
    return counts
