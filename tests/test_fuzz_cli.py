"""Issue 19: every command survives bad input. A table of bad invocations per subcommand of ussim,
ganlab, uscompare and usapp, each run in-process through its `main(argv)`; each must end with exit
status 2, exactly one line on stderr naming the problem, no traceback, and no file added, changed
or removed anywhere in the test's folder.

Read-only folders: these tests run as root, which ignores permission bits, so a read-only folder
is simulated by making `os.access` deny writing under `ro/` (what the commands consult before any
work); the real permission error, should it happen later, is the last line of defence in
ussim.errors.run_cli.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from ussim import examples, imageset

BIG = "100000000"


def _set(path: Path, organ: str, classes: list[str], n: int, seed: int) -> Path:
    """A small labelled set of `organ` (32 px) whose labels use every class."""
    toy = examples.toy_imageset(n=n, size=32, seed=seed)
    labels = np.minimum(toy["label"].values, len(classes) - 1).astype(np.uint8)
    labels[:, :2, :2] = len(classes) - 1
    ds = imageset.make(toy["image"].values, labels, class_names=classes, organ=organ, method="real:fuzz",
                       params={"fuzz": seed}, sample_id=[f"{organ}-{seed}-{i}" for i in range(n)])
    return imageset.write(ds, path)


def _damage(source: Path, target: Path) -> Path:
    """A copy of `source` with 4 KiB of flipped bytes inside the first chunk of `image`."""
    import h5py
    with h5py.File(source, "r") as handle:
        chunk = handle["image"].id.get_chunk_info(0)
    data = bytearray(source.read_bytes())
    for offset in range(chunk.byte_offset, chunk.byte_offset + min(chunk.size, 4096)):
        data[offset] ^= 0xFF
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs every case may use; the cases' outputs all point into this folder."""
    root = tmp_path_factory.mktemp("fuzz")
    ovary = _set(root / "ovary.h5", "ovary", ["background", "ovary"], 6, 0)
    _set(root / "ovary_other.h5", "ovary", ["background", "ovary"], 4, 50)
    _set(root / "ivus.h5", "ivus", ["outside_EEM", "wall", "lumen"], 4, 10)
    _damage(ovary, root / "damaged.h5")
    (root / "cut.h5").write_bytes(ovary.read_bytes()[: ovary.stat().st_size // 2])
    (root / "empty.h5").write_bytes(b"")
    (root / "foreign.h5").write_text("not an image set\n")
    (root / "a folder").mkdir()
    (root / "ro").mkdir()
    (root / "exists.h5").write_bytes(ovary.read_bytes())
    run = root / "runs" / "00000-cgan-ovary"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"model": "cgan", "con')  # cut short
    (root / "runs" / "00001-cgan-ovary").mkdir()
    (root / "runs" / "00001-cgan-ovary" / "config.json").write_text(json.dumps({"model": "cgan"}))
    (root / "ünï code").mkdir()
    (root / "password.txt").write_text("")
    return root


# (program, argv with {w} for the world folder, text the one line must hold)
CASES = {
    # ussim: outputs checked before any work
    "import-ro": ("ussim", ["import", "{w}/foreign.h5", "--out", "{w}/ro/x.h5"], "not writable"),
    "import-out-dir": ("ussim", ["import", "--images", "{w}/a folder", "--masks", "{w}/a folder", "--out",
                                 "{w}/a folder", "--overwrite"], "is a folder"),
    "import-max-color": ("ussim", ["import", "--images", "{w}", "--masks", "{w}", "--out", "{w}/x.h5",
                                   "--max-color-fraction", "nan"], "nan"),
    "import-tolerance": ("ussim", ["import", "--images", "{w}", "--masks", "{w}", "--out", "{w}/x.h5",
                                   "--palette-tolerance", "300"], "0..255"),
    "import-size": ("ussim", ["import", "--images", "{w}", "--masks", "{w}", "--out", "{w}/x.h5",
                              "--size", "99999x99999"], "99999x99999"),
    "phantom-ro": ("ussim", ["phantom", "--organ", "ivus", "--out", "{w}/ro/x.h5"], "not writable"),
    "phantom-png-ro": ("ussim", ["phantom", "--organ", "ivus", "--out", "{w}/x.h5", "--png", "{w}/ro/x.png"],
                       "not writable"),
    "phantom-png-missing": ("ussim", ["phantom", "--organ", "ivus", "--out", "{w}/x.h5", "--png",
                                      "{w}/nowhere/x.png"], "does not exist"),
    "phantom-png-is-out": ("ussim", ["phantom", "--organ", "ivus", "--out", "{w}/x.h5", "--png", "{w}/x.h5"],
                           "is the --out file"),
    "phantom-exists": ("ussim", ["phantom", "--organ", "ivus", "--out", "{w}/exists.h5"], "--overwrite"),
    "phantom-size": ("ussim", ["phantom", "--organ", "ivus", "--size", BIG, "--out", "{w}/x.h5"], BIG),
    "phantom-size-zero": ("ussim", ["phantom", "--organ", "ivus", "--size", "0", "--out", "{w}/x.h5"], "8..8192"),
    "phantom-seed": ("ussim", ["phantom", "--organ", "ivus", "--seed", "-1", "--out", "{w}/x.h5"], "0..4294967295"),
    "phantom-seed-big": ("ussim", ["phantom", "--organ", "ivus", "--seed", str(2**32), "--out", "{w}/x.h5"],
                         "4294967296"),
    "phantom-density-inf": ("ussim", ["phantom", "--organ", "ivus", "--scatterers-per-cell", "inf", "--out",
                                      "{w}/x.h5"], "inf"),
    "phantom-density-nan": ("ussim", ["phantom", "--organ", "ivus", "--scatterers-per-cell", "nan", "--out",
                                      "{w}/x.h5"], "nan"),
    "phantom-density-zero": ("ussim", ["phantom", "--organ", "ivus", "--scatterers-per-cell", "0", "--out",
                                       "{w}/x.h5"], "(0, inf)"),
    "phantom-organ": ("ussim", ["phantom", "--organ", "liver", "--out", "{w}/x.h5"], "liver"),
    "phantom-device": ("ussim", ["phantom", "--organ", "ivus", "--device", "tpu", "--out", "{w}/x.h5"], "tpu"),
    "phantom-samples": ("ussim", ["phantom", "--organ", "ovary", "--mask", "{w}/ovary.h5", "--samples", "0",
                                  "--out", "{w}/x.h5"], ">= 1"),
    "phantom-mask-damaged": ("ussim", ["phantom", "--organ", "ovary", "--mask", "{w}/damaged.h5", "--samples", "1",
                                       "--out", "{w}/x.h5"], "damaged"),
    "phantom-mask-missing": ("ussim", ["phantom", "--organ", "ovary", "--mask", "{w}/none.h5", "--out", "{w}/x.h5"],
                             "no such file"),
    "phantom-unicode-folder": ("ussim", ["phantom", "--organ", "ivus", "--out", "{w}/ünï code/nö/x.h5"],
                               "does not exist"),
    "dataset-ro": ("ussim", ["dataset", "--organ", "ivus", "--n", "2", "--out", "{w}/ro/x.h5"], "not writable"),
    "dataset-size": ("ussim", ["dataset", "--organ", "ivus", "--n", "2", "--size", "99999999", "--out", "{w}/x.h5"],
                     "99999999"),
    "dataset-seed": ("ussim", ["dataset", "--organ", "ivus", "--n", "2", "--seed", "-1", "--out", "{w}/x.h5"],
                     "0..4294967295"),
    "dataset-seed-end": ("ussim", ["dataset", "--organ", "ivus", "--n", "2", "--seed", str(2**32 - 1), "--out",
                                   "{w}/x.h5"], "largest seed"),
    "dataset-n-zero": ("ussim", ["dataset", "--organ", "ivus", "--n", "0", "--out", "{w}/x.h5"], ">= 1"),
    "dataset-n-nan": ("ussim", ["dataset", "--organ", "ivus", "--n", "nan", "--out", "{w}/x.h5"], "nan"),
    "dataset-shard-size": ("ussim", ["dataset", "--organ", "ivus", "--n", "2", "--shard-size", "0", "--out",
                                     "{w}/x.h5"], ">= 1"),
    "dataset-workers": ("ussim", ["dataset", "--organ", "ivus", "--n", "2", "--workers", "-2", "--out", "{w}/x.h5"],
                        ">= 1"),
    "dataset-exists": ("ussim", ["dataset", "--organ", "ivus", "--n", "2", "--out", "{w}/exists.h5"], "--overwrite"),
    "info-damaged": ("ussim", ["info", "{w}/damaged.h5"], "damaged"),
    "info-cut": ("ussim", ["info", "{w}/cut.h5"], "cut.h5"),
    "info-empty": ("ussim", ["info", "{w}/empty.h5"], "empty.h5"),
    "info-foreign": ("ussim", ["info", "{w}/foreign.h5"], "foreign.h5"),
    "info-folder": ("ussim", ["info", "{w}/a folder"], "is a folder"),
    "info-missing": ("ussim", ["info", "{w}/none.h5"], "no such image-set file"),
    # ganlab
    "train-lr-nan": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/runs",
                                "--set", "lr_g=NaN"], "NaN"),
    "train-lr-inf": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/runs",
                                "--set", "lr_g=1e999"], "1e999"),
    "train-lr-negative": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/runs",
                                     "--set", "lr_g=-1"], "lr_g -1"),
    "train-beta": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/runs",
                              "--set", "beta1=2"], "beta1 2"),
    "train-resume-cut-config": ("ganlab", ["train", "--resume", "{w}/runs/00000-cgan-ovary"], "damaged"),
    "train-resume-thin-config": ("ganlab", ["train", "--resume", "{w}/runs/00001-cgan-ovary"], "config.json"),
    "train-runs-file": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/ovary.h5"],
                        "not a folder"),
    "train-runs-ro": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/ro/runs"],
                      "not writable"),
    "train-data-damaged": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/damaged.h5", "--runs",
                                      "{w}/runs"], "damaged"),
    "train-data-missing": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/none.h5"], "no such file"),
    "train-model": ("ganlab", ["train", "--model", "stylegan", "--data", "{w}/ovary.h5", "--runs", "{w}/runs"],
                    "stylegan"),
    "train-epochs": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--epochs", "0"], ">= 1"),
    "train-seed": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--seed", "-3"], "-3"),
    "train-device": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--device", "tpu"], "tpu"),
    "train-snap-epochs": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/runs",
                                     "--set", "snap_epochs=0"], "snap_epochs 0"),
    "train-set-unknown": ("ganlab", ["train", "--model", "cgan", "--data", "{w}/ovary.h5", "--runs", "{w}/runs",
                                     "--set", "nosuch=1"], "nosuch"),
    "generate-size": ("ganlab", ["generate", "--run", "{w}/runs/00000-cgan-ovary", "--masks", "{w}/ovary.h5",
                                 "--size", "1000000", "--out", "{w}/x.h5"], "1000000"),
    "generate-ro": ("ganlab", ["generate", "--run", "{w}/runs/00000-cgan-ovary", "--masks", "{w}/ovary.h5",
                               "--out", "{w}/ro/x.h5"], "not writable"),
    "generate-out-dir": ("ganlab", ["generate", "--run", "{w}/runs/00000-cgan-ovary", "--masks", "{w}/ovary.h5",
                                    "--out", "{w}/a folder"], "is a folder"),
    "generate-samples": ("ganlab", ["generate", "--run", "{w}/runs/00000-cgan-ovary", "--masks", "{w}/ovary.h5",
                                    "--samples", "0", "--out", "{w}/x.h5"], ">= 1"),
    "generate-seed": ("ganlab", ["generate", "--run", "{w}/runs/00000-cgan-ovary", "--masks", "{w}/ovary.h5",
                                 "--seed", "nan", "--out", "{w}/x.h5"], "nan"),
    "generate-unfinished-run": ("ganlab", ["generate", "--run", "{w}/runs/00000-cgan-ovary", "--masks",
                                           "{w}/ovary.h5", "--out", "{w}/x.h5"], "not a finished training run"),
    "generate-no-run": ("ganlab", ["generate", "--run", "{w}/runs/77", "--masks", "{w}/ovary.h5", "--out",
                                   "{w}/x.h5"], "not found"),
    # uscompare
    "run-ro": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ovary_other.h5",
                             "--out", "{w}/ro/r.nc"], "not writable"),
    "run-out-dir": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ovary_other.h5",
                                  "--out", "{w}/a folder"], "is a folder"),
    "run-organs": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ivus.h5",
                                 "--backbone", "texture-v1", "--out", "{w}/r.nc"], "organ 'ivus'"),
    "run-device-cuda-texture": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method",
                                              "m={w}/ovary_other.h5", "--backbone", "texture-v1", "--device", "cuda",
                                              "--out", "{w}/r.nc"], "CPU only"),
    "run-device-tpu": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ovary_other.h5",
                                     "--device", "tpu", "--out", "{w}/r.nc"], "tpu"),
    "run-reference-damaged": ("uscompare", ["run", "--reference", "{w}/damaged.h5", "--method",
                                            "m={w}/ovary_other.h5", "--backbone", "texture-v1", "--out", "{w}/r.nc"],
                              "damaged"),
    "run-method-damaged": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/damaged.h5",
                                         "--backbone", "texture-v1", "--out", "{w}/r.nc"], "damaged"),
    "run-bootstrap": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ovary_other.h5",
                                    "--bootstrap", "0", "--out", "{w}/r.nc"], ">= 1"),
    "run-collapse-nan": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ovary_other.h5",
                                       "--collapse-ms-ssim", "nan", "--out", "{w}/r.nc"], "nan"),
    "run-kid-seed": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ovary_other.h5",
                                   "--kid-seed", "-1", "--out", "{w}/r.nc"], "0..4294967295"),
    "run-method-syntax": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "{w}/ovary_other.h5",
                                        "--out", "{w}/r.nc"], "NAME=FILE.h5"),
    "run-exists": ("uscompare", ["run", "--reference", "{w}/ovary.h5", "--method", "m={w}/ovary_other.h5",
                                 "--out", "{w}/exists.h5"], "--overwrite"),
    "segment-class-map-unknown": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--method",
                                                "m={w}/ovary_other.h5", "--class-map", "nosuch=ovary", "--n-real", "2",
                                                "--results", "{w}/s.nc"], "nosuch"),
    "segment-class-map-target": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--method",
                                               "m={w}/ovary_other.h5", "--class-map", "ovary=nosuch", "--results",
                                               "{w}/s.nc"], "nosuch"),
    "segment-learning-rate": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--learning-rate", "nan",
                                            "--results", "{w}/s.nc"], "nan"),
    "segment-ro": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--results", "{w}/ro/s.nc"], "not writable"),
    "segment-test-fraction": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--test-fraction", "1.5",
                                            "--results", "{w}/s.nc"], "1.5"),
    "segment-seeds": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--seeds", "0", "-1", "--results",
                                    "{w}/s.nc"], "-1"),
    "segment-size": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--size", BIG, "--results", "{w}/s.nc"],
                     BIG),
    "segment-device": ("uscompare", ["segment", "--real", "{w}/ovary.h5", "--device", "tpu", "--results",
                                     "{w}/s.nc"], "tpu"),
    "report-out-dir": ("uscompare", ["report", "{w}/ovary.h5", "--out", "{w}/a folder"], "is a folder"),
    "report-ro": ("uscompare", ["report", "{w}/ovary.h5", "--out", "{w}/ro/r.html"], "not writable"),
    "report-results-missing": ("uscompare", ["report", "{w}/none.nc", "--out", "{w}/r.html"],
                               "no such results file"),
    "report-results-foreign": ("uscompare", ["report", "{w}/foreign.h5", "--out", "{w}/r.html"], "foreign.h5"),
    "report-grid-rows": ("uscompare", ["report", "{w}/ovary.h5", "--out", "{w}/r.html", "--grid-rows", "0"], "1..64"),
    "report-suffix": ("uscompare", ["report", "{w}/ovary.h5", "--out", "{w}/r.txt"], ".html"),
    # usapp (stops before it would start the server)
    "usapp-db": ("usapp", ["--db", "nonsense"], "nonsense"),
    "usapp-db-dialect": ("usapp", ["--db", "oracle+nosuch://x"], "oracle+nosuch"),
    "usapp-results": ("usapp", ["--results", "{w}/none.nc"], "no such file"),
    "usapp-password-empty": ("usapp", ["--admin-password-file", "{w}/password.txt"], "empty"),
}


def _main(program: str):
    if program == "ussim":
        from ussim.cli import main
    elif program == "ganlab":
        from ganlab.cli import main
    elif program == "uscompare":
        from compare.cli import main
    else:
        from app.cli import main
    return main


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under `root` (hidden ones included) with its size and mtime."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size if name in files else 0, stat.st_mtime_ns)
    return found


@pytest.fixture
def read_only(world, monkeypatch):
    """`ro/` answers 'not writable' to os.access, as it would for a non-root user."""
    real_access = os.access
    denied = str(world / "ro")

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and os.path.abspath(path).startswith(denied):
            return False
        return real_access(path, mode, *args, **kwargs)
    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_invocation(case, world, read_only, capsys, monkeypatch):
    program, argv, expected = CASES[case]
    monkeypatch.chdir(world)
    monkeypatch.setenv("USCOMPARE_CACHE", str(world / "cache"))
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail(f"{case}: usapp would have started the server"))
    before = _listing(world)
    with pytest.raises(SystemExit) as stop:
        _main(program)([a.replace("{w}", str(world)) for a in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert stop.value.code == 2, (case, out, err)
    assert len(lines) == 1 and "Traceback" not in err, (case, err)
    assert lines[0].startswith(f"{program}: error: ") and expected in lines[0], (case, lines[0])
    assert _listing(world) == before, case
    assert "cache" not in os.listdir(world)


def test_every_subcommand_has_cases():
    """The table covers every subcommand of the four command lines."""
    covered = {(program, argv[0] if program != "usapp" else "") for program, argv, _ in CASES.values()}
    wanted = {("ussim", c) for c in ("import", "phantom", "dataset", "info")} | \
        {("ganlab", c) for c in ("train", "generate")} | {("uscompare", c) for c in ("run", "segment", "report")} | \
        {("usapp", "")}
    assert wanted <= covered, wanted - covered


def test_phantom_whose_png_fails_leaves_nothing(world, tmp_path, monkeypatch, capsys):
    """The image set and its PNG appear together: a PNG that cannot be written takes the set with it."""
    from PIL import Image

    from ussim import cli, phantom
    ds = imageset.read(world / "ovary.h5").load()
    monkeypatch.setattr(phantom, "random_sample", lambda *a, **k: ds)

    def broken_save(self, fp, format=None, **params):
        raise OSError(28, "No space left on device", str(fp))
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(SystemExit) as stop:
        cli.main(["phantom", "--organ", "ovary", "--out", str(tmp_path / "p.h5"), "--png", str(tmp_path / "p.png")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.strip().splitlines()) == 1 and "No space left" in err, err
    assert os.listdir(tmp_path) == []


def test_new_run_folder_appears_with_its_config(tmp_path):
    """A run folder is renamed into place holding config.json; numbering skips taken numbers."""
    from ganlab import runs
    (tmp_path / "00004-cgan-x").mkdir()
    run = runs.new_run_dir(tmp_path, "cgan", "x", {"model": "cgan"})
    assert run.name == "00005-cgan-x" and json.loads((run / "config.json").read_text()) == {"model": "cgan"}
    assert sorted(os.listdir(tmp_path)) == ["00004-cgan-x", "00005-cgan-x"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    """What `kill -9` leaves (a temporary naming a dead process) goes at the next write of that name;
    a live process's temporary and a foreign hidden file stay."""
    import subprocess

    from ussim import atomicio
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "x.h5"
    stale = Path(str(atomicio.temporary_name(target)).replace(f"-{os.getpid()}-", f"-{dead.pid}-"))
    stale.write_bytes(b"half")
    stale_folder = Path(str(atomicio.temporary_name(target)).replace(f"-{os.getpid()}-", f"-{dead.pid}-"))
    stale_folder.mkdir()
    live = atomicio.temporary_name(target)
    live.write_bytes(b"mine")
    foreign = tmp_path / ".x.h5.notours.tmp"
    foreign.write_bytes(b"?")
    atomicio.atomic_write(target, lambda tmp: tmp.write_bytes(b"whole"))
    assert target.read_bytes() == b"whole"
    assert not stale.exists() and not stale_folder.exists() and live.exists() and foreign.exists()


def test_report_leftover_twin_is_recognised(tmp_path):
    """A Markdown twin without its HTML page (a run killed between renames) is ours to replace; a
    user's own .md of that name is not, and a complete report (HTML present) is never a leftover."""
    from compare.report import document
    out = tmp_path / "r.html"
    (tmp_path / "r.md").write_text(f"# {document.TITLE}\n\nhalf\n")
    assert document.leftover_twin(out)
    (tmp_path / "r.md").write_text("# my own notes\n")
    assert not document.leftover_twin(out)
    (tmp_path / "r.md").write_text(f"# {document.TITLE}\n")
    out.write_text("<html></html>")
    assert not document.leftover_twin(out)


def test_write_together_is_all_or_nothing(tmp_path):
    """A failure while writing the last of several files leaves none of them, nor a temporary."""
    from ussim import atomicio

    def fails(tmp):
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError):
        atomicio.write_together({tmp_path / "a.png": lambda t: t.write_bytes(b"a"),
                                 tmp_path / "b.md": lambda t: t.write_bytes(b"b"), tmp_path / "c.html": fails})
    assert os.listdir(tmp_path) == []
    atomicio.write_together({tmp_path / "a.png": lambda t: t.write_bytes(b"a"),
                             tmp_path / "c.html": lambda t: t.write_bytes(b"c")})
    assert sorted(os.listdir(tmp_path)) == ["a.png", "c.html"]


def test_old_files_without_checksums_still_read(world, tmp_path):
    """Image sets written before the Fletcher32 filter (plain gzip chunks) read as before."""
    import h5py
    with imageset.read(world / "ovary.h5") as ds:
        ds = ds.load()
        with h5py.File(world / "ovary.h5") as handle:
            assert handle["image"].fletcher32 and handle["label"].fletcher32
        old = tmp_path / "old.h5"
        shape = (1, ds.sizes["y"], ds.sizes["x"])
        ds.to_netcdf(old, engine="h5netcdf", encoding={n: {**imageset.COMPRESSION, "chunksizes": shape}
                                                       for n in ("image", "label")})
    with h5py.File(old) as handle:
        assert not handle["image"].fletcher32
    with imageset.read(old) as again:
        assert np.array_equal(again["image"].values, ds["image"].values)
