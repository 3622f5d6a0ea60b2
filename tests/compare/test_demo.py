import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from compare.demo import run_demo
from ussim import imageset


def test_demo_without_real_data_writes_a_generated_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("USSIM_REAL_DATA", str(tmp_path / "nowhere"))
    written = run_demo(tmp_path / "demo", progress=False)
    assert [p.name for p in written] == ["toy_speckle.h5", "sim_cyst.h5"]
    with imageset.read(written[0]) as ds:
        assert ds.attrs["method"] == "toy:rayleigh" and "envelope" in ds
    with imageset.read(written[1]) as ds:
        image, label = ds["image"].values[0].astype(float), ds["label"].values[0]
        assert ds.attrs["method"] == "ussim-field" and "envelope" in ds and ds["seconds"].values[0] > 0
        core = ndimage.binary_erosion(label == 1, iterations=10)  # 1.5 mm inside the cyst wall
        rows = np.flatnonzero(core.any(axis=1))
        beside = np.zeros_like(core)
        beside[rows[0]: rows[-1] + 1] = ndimage.binary_dilation(label == 1, iterations=20)[rows[0]: rows[-1] + 1] == 0
        # 40 gray levels = 9.4 dB at 60 dB dynamic range (measured: 13.7 dB; one plane wave limits it)
        assert image[core].mean() < image[beside].mean() - 40
    assert (tmp_path / "demo" / "sim_cyst.png").is_file()
    assert "no real data" in capsys.readouterr().out


def test_demo_with_real_data_imports_both_archives(real_dir, tmp_path, capsys):
    written = run_demo(tmp_path / "demo", progress=False)
    assert sorted(p.name for p in written) == ["real_ivus.h5", "real_ovary.h5", "sim_cyst.h5"]
    assert "organ     ovary" in capsys.readouterr().out


@pytest.mark.parametrize("script", ["ussim", "ganlab", "uscompare"])
def test_console_scripts_are_installed(script):
    path = Path(sys.executable).with_name(script)
    result = subprocess.run([path, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith(script)
