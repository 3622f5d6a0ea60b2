"""Which reference image a synthetic image was made from (the pairing of SSIM and MS-SSIM).

DECISION: a synthetic sample pairs with the reference sample that has the same label map
(compared in union class indices, so class order does not matter): that is what "made from the
same mask" means, and it holds whatever the producer called its samples. Several reference
samples can share one map (e.g. empty masks); then the one with the matching sample id wins,
else the first. When the two sets' image sizes differ, label maps cannot be compared and
samples pair by sample id instead: the same id, or ussim's `sim-<reference id>`.
Unpaired synthetic samples are left out of SSIM/MS-SSIM (their count is recorded).
"""

from __future__ import annotations

import hashlib

import numpy as np

from compare.sets import ImageSet

BLOCK = 64
SIMULATED_PREFIX = "sim-"  # ussim phantom --mask names a simulated sample sim-<mask's sample id>


def _ids(s: ImageSet) -> list[str]:
    return [str(v) for v in s.ds["sample_id"].values.tolist()]


def _label_hashes(s: ImageSet) -> list[str]:
    hashes = []
    for start in range(0, s.n, BLOCK):
        for label in s.labels(slice(start, start + BLOCK)):
            hashes.append(hashlib.sha256(np.ascontiguousarray(label).tobytes()).hexdigest())
    return hashes


def id_match(candidate_id: str, reference_position: dict[str, int]) -> int | None:
    if candidate_id in reference_position:
        return reference_position[candidate_id]
    if candidate_id.startswith(SIMULATED_PREFIX):
        return reference_position.get(candidate_id[len(SIMULATED_PREFIX):])
    return None


def find_pairs(reference: ImageSet, candidate: ImageSet) -> list[tuple[int, int]]:
    """(reference index, candidate index) of every paired candidate sample, by candidate index."""
    position = {sid: i for i, sid in enumerate(_ids(reference))}
    candidate_ids = _ids(candidate)
    if reference.size != candidate.size:
        matches = [(id_match(sid, position), j) for j, sid in enumerate(candidate_ids)]
        return [(i, j) for i, j in matches if i is not None]
    by_hash: dict[str, list[int]] = {}
    for i, digest in enumerate(_label_hashes(reference)):
        by_hash.setdefault(digest, []).append(i)
    pairs = []
    for j, digest in enumerate(_label_hashes(candidate)):
        same_mask = by_hash.get(digest)
        if not same_mask:
            continue
        preferred = id_match(candidate_ids[j], position)
        pairs.append((preferred if preferred in same_mask else same_mask[0], j))
    return pairs
