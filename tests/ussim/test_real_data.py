"""Import every archive in ../shared/data/real; skipped with a reason where it is absent."""

import numpy as np
import pytest

from app.demo.sets import OVARY_IMPORT
from ussim import imageset, importers


def test_every_real_archive_imports_and_round_trips(real_dir, tmp_path):
    archives = sorted(real_dir.glob("*.npz"))
    assert archives, f"{real_dir} holds no .npz archive"
    for archive in archives:
        source = np.load(archive, allow_pickle=False)
        ds = importers.import_npz(archive, progress=False)
        path = imageset.write(ds, tmp_path / f"{archive.stem}.h5")
        with imageset.read(path) as back:
            assert back.sizes["sample"] == len(source["images"])
            np.testing.assert_array_equal(back["image"].values, source["images"])
            np.testing.assert_array_equal(back["label"].values, source["masks"])
            assert imageset.class_names_of(back) == [str(c) for c in source["class_names"]]
            if "ids" in source:
                assert back["sample_id"].values.tolist() == source["ids"].astype(str).tolist()
            if "pixel_mm" in source:
                assert np.diff(back["x_mm"].values) == pytest.approx(float(source["pixel_mm"]))


def test_demo_ovary_selection_matches_the_archive(real_dir):
    archive = real_dir / "otu2d_ovary_256.npz"
    if not archive.exists():
        pytest.skip(f"{archive} absent")
    source = np.load(archive, allow_pickle=False)
    normal = list(source["class_names"]).index("normal_ovary")
    aspect = source["orig_hw"][:, 1] / source["orig_hw"][:, 0]
    expected = ((source["split"] == "train") & (source["image_class"] == normal) & (source["chroma_frac"] <= 0.01)
                & (aspect >= 1.5) & (aspect <= 3.0))
    ds = importers.import_npz(archive, split="train", progress=False, **OVARY_IMPORT)
    assert ds["sample_id"].values.tolist() == source["ids"][expected].tolist()
    assert imageset.class_names_of(ds) == ["background", "ovary"]
    np.testing.assert_array_equal(ds["label"].values, (source["masks"][expected] == normal).astype(np.uint8))
