"""bench/realism.py's choice of a demo run's sets."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import realism  # noqa: E402


def test_the_demo_rows_take_the_generated_sets_and_not_the_segmentation_stage_s(tmp_path):
    sets = tmp_path / "sets"
    sets.mkdir()
    for name in ("ovary_ussim", "ovary_cgan_seed0", "ovary_segmentation_masks", "ovary_segmentation_cgan",
                 "ivus_ussim"):
        (sets / f"{name}.h5").touch()
    assert [p.stem for p in realism.demo_set_paths(tmp_path, "ovary")] == ["ovary_cgan_seed0", "ovary_ussim"]
    assert [p.stem for p in realism.demo_set_paths(tmp_path, "ivus")] == ["ivus_ussim"]
