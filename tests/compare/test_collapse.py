"""Mode collapse is flagged and ranked nowhere; SpeckleGAN's ellipse protocol scores runs unpaired."""

import json

import numpy as np
import pytest

from compare import cli, methods, results, verdicts
from tests.compare.conftest import resimulate
from ganlab import train
from ussim import examples, imageset
from ussim.phantoms import ivus

FAST = ["--backbone", "texture-v1", "--frd", "off", "--bootstrap", "20", "--kid-subsets", "5",
        "--diversity-pairs", "10", "--pr-k", "2", "--dc-k", "2", "--no-progress", "--no-cache"]


def run_cli(*argv):
    with pytest.raises(SystemExit) as stop:
        cli.main([str(a) for a in argv])
    return stop.value.code


def ivus_like(n: int, size: int):
    """IVUS-shaped stand-ins for real frames: ussim's random IVUS masks, gray levels per class plus noise."""
    x = ((np.arange(size) + 0.5) / size - 0.5) * 10e-3
    rng = np.random.default_rng(9)
    labels = np.stack([ivus.to_real_classes(ivus.draw(x, x, rng)[0]) for _ in range(n)])
    images = np.clip(np.array([60, 170, 20])[labels] + rng.normal(0, 25, labels.shape), 0, 255).astype(np.uint8)
    return imageset.make(images, labels, class_names=list(ivus.REAL_CLASSES), organ="ivus", method="real:toy",
                         params={})


def test_a_set_of_one_image_repeated_is_flagged_and_not_ranked(tmp_path):
    real = examples.toy_imageset(n=6, size=64, seed=0)
    real_path = imageset.write(real, tmp_path / "real.h5")
    working = imageset.write(resimulate(real, seed=1), tmp_path / "working.h5")
    copies = resimulate(real, seed=2)
    copies["image"].values[:] = copies["image"].values[0]     # the same image for every mask
    collapsed = imageset.write(copies, tmp_path / "collapsed.h5")
    out = tmp_path / "r.nc"
    assert run_cli("run", "--reference", real_path, "--method", f"good={working}", "--method",
                   f"stuck={collapsed}", "--out", out, *FAST) == 0
    ds = results.read(out)
    assert methods.collapsed(ds, "stuck") and not methods.collapsed(ds, "good")
    assert methods.marked(ds, "stuck") == "stuck [COLLAPSED]"
    # 64 px: diversity with three scales; the copies are exactly alike.
    assert float(ds["value"].sel({"method": "stuck", "metric": "diversity_ms_ssim"})) == pytest.approx(1.0)
    lines = verdicts.verdicts(ds)
    assert lines[0].startswith("stuck [COLLAPSED]: mode collapse, ranked in no verdict")
    assert not any("stuck" in line for line in lines[1:])
    assert any("MODE COLLAPSE" in note and "stuck" in note for note in results.notes_of(ds))


def test_ellipse_protocol_generates_from_random_ivus_masks_and_scores_unpaired(tmp_path):
    real_path = imageset.write(ivus_like(6, 64), tmp_path / "ivus_real.h5")
    run = train.train("speckle-baseline", real_path, preset="cpu-demo", runs_root=tmp_path / "runs", progress=False,
                      echo=False, overrides={"resolution": 64, "g_width": 4, "d_width": 4, "grid_samples": 2,
                                             "threads": 1, "max_iters": 1, "batch": 2})
    out = tmp_path / "e.nc"
    assert run_cli("run", "--protocol", "ellipse", "--ellipse-samples", "5", "--reference", real_path,
                   "--method", f"baseline={run}", "--out", out, *FAST) == 0
    ds = results.read(out)
    assert results.parameters_of(ds)["protocol"] == "ellipse"
    generated = json.loads(str(ds.sel({"method": "baseline"})["files"].values))[0]
    with imageset.read(generated) as g:
        assert g.sizes["sample"] == 5 and json.loads(g.attrs["params"])["masks"]["samples"] == 5
        labels = g["label"].values
    assert set(np.unique(labels)) == {0, 1, 2} and not np.array_equal(labels[0], labels[1])
    assert np.isnan(float(ds["value"].sel({"method": "baseline", "metric": "ssim"})))   # unpaired
    assert np.isfinite(float(ds["value"].sel({"method": "baseline", "metric": "fid[texture-v1]"})))
    assert any("protocol ellipse" in note for note in results.notes_of(ds))


def test_ellipse_protocol_refuses_a_reference_that_is_not_ivus(tmp_path, capsys):
    real_path = imageset.write(examples.toy_imageset(n=4, size=64, seed=0), tmp_path / "real.h5")
    assert run_cli("run", "--protocol", "ellipse", "--reference", real_path, "--method", f"x={tmp_path}",
                   "--out", tmp_path / "e.nc", *FAST) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--protocol ellipse draws IVUS masks" in err[0]
