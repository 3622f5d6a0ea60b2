import subprocess
import sys
from pathlib import Path

import pytest

from compare.demo import run_demo
from ussim import imageset


def test_demo_without_real_data_writes_a_generated_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("USSIM_REAL_DATA", str(tmp_path / "nowhere"))
    written = run_demo(tmp_path / "demo", progress=False)
    assert [p.name for p in written] == ["toy_speckle.h5"]
    with imageset.read(written[0]) as ds:
        assert ds.attrs["method"] == "toy:rayleigh" and "envelope" in ds
    assert "no real data" in capsys.readouterr().out


def test_demo_with_real_data_imports_both_archives(real_dir, tmp_path, capsys):
    written = run_demo(tmp_path / "demo", progress=False)
    assert sorted(p.name for p in written) == ["real_ivus.h5", "real_ovary.h5"]
    assert "organ     ovary" in capsys.readouterr().out


@pytest.mark.parametrize("script", ["ussim", "ganlab", "uscompare"])
def test_console_scripts_are_installed(script):
    path = Path(sys.executable).with_name(script)
    result = subprocess.run([path, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith(script)
