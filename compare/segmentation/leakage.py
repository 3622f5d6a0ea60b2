"""Refuse, before any training, a training set whose masks overlap the test set's.

A network pretrained on images made from the test masks has seen the test anatomies: its test
score measures memory, not utility. A set overlaps the test set when any of these holds (the
first that finds something is named in the one-line refusal, with a count and an example):
  * ids: a sample id equals a test id, or is ussim's `sim-<test id>` (compare.pairing);
  * mask SHA-256: the SHA-256 of a mask's label pixels (in the real training set's class
    indices, with its shape) equals a test mask's, at native size;
  * resized mask SHA-256: the same after bringing both to the benchmark's training size by
    nearest neighbour, so a resized copy is caught. DECISION: under both common nearest rules,
    source pixel floor(i * in / out) (torch's "nearest") and floor((i + 1/2) * in / out)
    (pixel centres: torch's "nearest-exact", which ganlab uses, PIL, scikit-image); a copy made
    by another interpolation or resized twice is caught only by the other checks;
  * params: the set's recorded parameters name the test file as their mask source (ganlab
    generate records params["masks"] with the file's path and SHA-256; ussim phantom --mask
    records params["mask"], the mask's sample id), also inside a concatenated set's sources.
DECISION: masks holding a single class (e.g. all background) are left out of the hash checks:
they carry no anatomy to leak, and any two of them would match.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from compare.pairing import id_match
from compare.segmentation.data import Labelled
from ussim.errors import UsageError
from ussim.imageset import file_sha256

ADVICE = ("make synthetic pretraining sets from the training masks or fresh random anatomies (ussim dataset), "
          "never from the test masks")


def digest(label: np.ndarray) -> str:
    h = hashlib.sha256(repr(label.shape).encode())
    h.update(np.ascontiguousarray(label, np.uint8).tobytes())
    return h.hexdigest()


def nearest(label: np.ndarray, size: int, centres: bool) -> np.ndarray:
    """`label` resized to size x size by nearest neighbour (index arithmetic, exact in integers)."""
    def source(n_in: int) -> np.ndarray:
        out = np.arange(size)
        return ((2 * out + 1) * n_in) // (2 * size) if centres else (out * n_in) // size
    return label[np.ix_(source(label.shape[0]), source(label.shape[1]))]


@dataclasses.dataclass
class Fingerprint:
    """What identifies a set's masks: ids, and SHA-256 digests at native and at training size."""
    ids: list[str]
    native: dict[str, str]   # digest -> sample id
    resized: dict[str, str]  # digest at the training size (either nearest rule) -> sample id


def fingerprint(labelled: Labelled, size: int) -> Fingerprint:
    native, resized = {}, {}
    for label, sample_id in zip(labelled.labels, labelled.ids, strict=True):
        if len(np.unique(label)) < 2:
            continue
        native.setdefault(digest(label), sample_id)
        for centres in (False, True):
            resized.setdefault(digest(nearest(label, size, centres)), sample_id)
    return Fingerprint(list(labelled.ids), native, resized)


def mask_sources(params, found=None) -> list[tuple[str, object]]:
    """Every ("masks", {path, sha256, ...}) and ("mask", sample id) anywhere in a set's params."""
    found = [] if found is None else found
    if isinstance(params, dict):
        for key, value in params.items():
            if key == "masks" and isinstance(value, dict):
                found.append(("masks", value))
            elif key == "mask" and isinstance(value, str):
                found.append(("mask", value))
            else:
                mask_sources(value, found)
    elif isinstance(params, list):
        for value in params:
            mask_sources(value, found)
    return found


def overlap(candidate: Labelled, test: Fingerprint, test_file: Path,
            size: int) -> tuple[str, int, str] | None:
    """(method, count, example) of the first check that finds `candidate` overlapping the test set."""
    position = {sid: i for i, sid in enumerate(test.ids)}
    same_ids = [sid for sid in candidate.ids if id_match(sid, position) is not None]
    if same_ids:
        return "sample id", len(same_ids), same_ids[0]
    mine = fingerprint(candidate, size)
    for method, theirs, ours in (("mask SHA-256 at native size", test.native, mine.native),
                                 (f"mask SHA-256 after nearest-neighbour resizing to {size} px", test.resized,
                                  mine.resized)):
        shared = [(sid, theirs[d]) for d, sid in ours.items() if d in theirs]
        if shared:  # counted by sample: a mask has two digests at the training size, one per rule
            return (method, len({sid for sid, _ in shared}),
                    f"{shared[0][0]} (same mask as test sample {shared[0][1]})")
    sources = mask_sources(candidate.params)
    from_test = [sid for kind, sid in sources if kind == "mask" and id_match(sid, position) is not None]
    if from_test:
        return "params (mask source is a test sample)", len(from_test), from_test[0]
    test_path = Path(test_file).resolve()
    test_sha = file_sha256(test_path) if any(kind == "masks" and s.get("sha256") for kind, s in sources) else None
    for kind, source in sources:
        if kind == "masks" and ((source.get("path") and Path(source["path"]).resolve() == test_path)
                                or (test_sha and source.get("sha256") == test_sha)):
            return f"params (masks made from {test_path.name})", len(candidate), candidate.ids[0]
    return None


def refuse_overlap(role: str, candidate: Labelled, test: Fingerprint, test_file: Path, size: int) -> None:
    """One line naming the method, the count and an example, when `candidate` overlaps the test set."""
    found = overlap(candidate, test, test_file, size)
    if found is not None:
        method, count, example = found
        raise UsageError(f"{role} {candidate.path.name} overlaps the test set ({Path(test_file).name}) by {method}: "
                         f"{count} sample(s), e.g. {example}; {ADVICE}")
