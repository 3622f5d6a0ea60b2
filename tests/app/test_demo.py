"""The whole `make demo` pipeline on the tiny configuration: every stage runs and hands its
outputs to the next (image sets, simulator, every GAN, metrics, report, reader study)."""

import dataclasses
import json
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.demo import models, pipeline
from app.demo.defaults import ORGAN_MODELS, TINY
from app.demo.sets import OrganSets
from app.study import next_case, open_session, open_study, progress
from compare import results
from ussim import imageset

ORGANS = list(ORGAN_MODELS)


def method_names(organ: str) -> list[str]:
    """The demo's methods of an organ: one per mask-only GAN, two per sketch GAN (both sketch sources)."""
    return [name for model in ORGAN_MODELS[organ] for name in models.method_names(model).values()]


@pytest.fixture(scope="module")
def simulated_demo(tmp_path_factory):
    """The tiny demo without real data (as on a user's machine), run once for the module."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("USSIM_REAL_DATA", str(out.parent / "nowhere"))
        record = pipeline.run_demo(out, TINY, progress=False)
    return out, record


def test_simulated_demo_writes_every_product_and_says_the_reference_is_simulated(simulated_demo):
    out, record = simulated_demo
    assert record["real_data"] is None
    comparisons = results.read_comparisons(out / "results.nc")
    assert list(comparisons.datasets) == ORGANS
    for organ, ds in comparisons.datasets.items():
        assert ds["method"].values.tolist() == ["simulated", "ussim", *method_names(organ)]
        assert ds.attrs["backbone"] == TINY.backbone
        # every GAN trained with each training seed; each method states what it saw
        assert ds["n_sets"].values.tolist() == ["1", "1"] + [str(len(TINY.training_seeds))] * len(method_names(organ))
        conditions = dict(zip(ds["method"].values.tolist(), zip(ds["condition"].values.tolist(),
                                                                 ds["condition_source"].values.tolist())))
        assert conditions["ussim"] == ("mask", "none")
        for model in ORGAN_MODELS[organ]:
            names = models.method_names(model)
            if len(names) == 1:
                assert conditions[names["reference"]] == ("mask", "none")
            else:
                assert conditions[names["reference"]] == ("mask+sketch", "reference")
                assert conditions[names["training"]] == ("mask+sketch", "other")
        finite = np.isfinite(ds["value_interval"].sel({"metric": "ssim"}).values[1:])
        assert finite.all()  # every method's SSIM carries its interval
        assert ds.attrs["frd_computed"] == 1 and np.isfinite(ds["value"].sel({"metric": "frd"}).values[1:]).all()
        # every method's images were made from the reference masks: the paired metrics exist
        n_pairs = ds["value"].sel({"metric": "n_pairs"}).values[1:]
        assert (n_pairs == TINY.held_out[organ]).all()
        with imageset.read(out / "sets" / f"{organ}_ussim.h5") as sim, \
                imageset.read(out / "data" / f"{organ}_reference.h5") as reference:
            assert (sim["label"].values == reference["label"].values).all()
            assert not (sim["image"].values == reference["image"].values).all()  # other scatterer seeds
    assert "No real images" in comparisons.attrs["notice"]
    page = (out / "report.html").read_text()
    assert "No real images" in page and "No real images" in (out / "report.md").read_text()
    for organ in ORGANS:
        assert (out / f"report_grid_{organ}.png").is_file()
    summary = (out / "summary.md").read_text()
    for organ, organ_models in ORGAN_MODELS.items():
        for model in organ_models:
            trained = record["organs"][organ]["methods"][model]
            assert [t["seed"] for t in trained] == list(TINY.training_seeds)
            # exactly the configured iterations, not rounded up to whole epochs
            assert [t["iterations"] for t in trained] == [TINY.iterations[model]] * len(trained)
            for run in (Path(t["run"]) for t in trained):
                assert (run / "snapshot.pt").is_file() and (run / "config.json").is_file()
        for name in method_names(organ):
            assert f"| {organ} | {name}" in summary
        assert f"| {organ} | ussim | mask only |" in summary
        assert f"| {organ} | simulated (reference) |" in summary
    assert "sgan:ref-sketch † | mask + sketch of the reference image †" in summary
    assert "What the intervals resolve" in summary
    assert set(record["stages"]) == {"image sets", "simulator", "GANs", "metrics", "segmentation utility", "report",
                                     "reader study"}
    assert record["workload_seconds"] > 0  # app.demo.speed: what scales the expected duration on the next run
    # the segmentation-utility stage: every method's synthetic set images training masks, never a
    # held-out one; both protocols are in the results, the report and the summary
    from compare.segmentation import store
    assert "Segmentation utility (stage 5)" in summary and "synthetic-only" in summary
    for organ, ds in comparisons.datasets.items():
        assert store.has_segmentation(ds)
        assert ds["seg_method"].values.tolist() == ["real-only", "ussim", *[
            models.method_names(model)["reference"] for model in ORGAN_MODELS[organ]]]
        with imageset.read(out / "data" / f"{organ}_train.h5") as train, \
                imageset.read(out / "data" / f"{organ}_reference.h5") as reference:
            training = train["label"].values[:TINY.segmentation_synthetic]
            held_out = reference["label"].values
            for path in record["segmentation"][organ]["synthetic_sets"].values():
                with imageset.read(path) as made:
                    assert np.array_equal(made["label"].values, training)
                    assert not any(np.array_equal(m, h) for m in made["label"].values for h in held_out)
        with imageset.read(record["segmentation"][organ]["synthetic_sets"]["ussim"]) as made:
            assert made.attrs["method"] == "ussim-fast"
    assert json.loads((out / "demo.json").read_text())["config"] == TINY.as_dict()


def test_simulated_demo_prepares_a_study_each_reader_can_open(simulated_demo):
    out, record = simulated_demo
    tokens = out / "readers.txt"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / pipeline.ADMIN_PASSWORD_FILE).stat().st_mode) == 0o600
    links = [line.split() for line in tokens.read_text().splitlines() if not line.startswith("#")]
    assert len(links) == len(ORGANS) * len(TINY.readers)
    url = f"sqlite:///{(out / 'study.db').resolve()}"
    for name, _reader, link in links:
        assert open_study(url, name).name == name
        session = open_session(url, link.split("token=")[1])
        # one case per anatomy: the scored ones and the practice ones
        assert progress(session) == (0, TINY.study_cases[name.split("-")[1]] + TINY.study_practice)
        assert next_case(session) is not None


def test_demo_with_real_data_trains_on_real_images(real_dir, tmp_path, capsys):
    """The real archives flow through every stage. DECISION: one training seed, no FRD and one
    worker (every stage in this process), the costliest parts of this second tiny run: in the
    tiny runs the spawned workers' imports (torch, diffusers, MONAI) took a third of the CPU time,
    profiled with py-spy 2026-12-03. Seeds, FRD and the workers are checked on the simulated demo
    above."""
    config = dataclasses.replace(TINY, training_seeds=(0,), frd="off", training_workers=1)
    record = pipeline.run_demo(tmp_path / "demo", config, progress=False)
    printed = capsys.readouterr().out
    assert all(organ["real"] for organ in record["organs"].values())
    comparisons = results.read_comparisons(tmp_path / "demo" / "results.nc")
    assert "No real images" not in comparisons.attrs["notice"]
    for ds in comparisons.datasets.values():
        assert ds["method"].values.tolist()[0] == "real"
        assert ds.attrs["frd_computed"] == 0 and set(ds["n_sets"].values[2:]) == {"1"}  # as configured
    for organ in ORGANS:
        with imageset.read(tmp_path / "demo" / "data" / f"{organ}_reference.h5") as ds:
            assert ds.attrs["method"].startswith("real:") and ds.sizes["sample"] == TINY.held_out[organ]
    command = printed.strip().splitlines()[-1].strip()
    # the dashboard script of this environment, which `make demo` never activates
    assert Path(command.split()[0]).resolve() == Path(sys.executable).with_name("usapp").resolve()
    assert command.endswith(f"--db sqlite:///{(tmp_path / 'demo' / 'study.db').resolve()} "
                            f"--results {(tmp_path / 'demo' / 'results.nc').resolve()} "
                            f"--admin-password-file {(tmp_path / 'demo' / pipeline.ADMIN_PASSWORD_FILE).resolve()}")
    assert f"Admin password (comparison, study admin and results pages; readers never need it): " \
           f"{tmp_path / 'demo' / pipeline.ADMIN_PASSWORD_FILE}" in printed


def test_demo_command_line(tmp_path, capsys):
    result = subprocess.run([sys.executable, "-m", "app.demo", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--tiny" in result.stdout
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = subprocess.run([sys.executable, "-m", "app.demo", "--out", str(not_a_folder)], capture_output=True,
                            text=True)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "is a file" in result.stderr


@pytest.mark.parametrize("script", ["ussim", "ganlab", "uscompare", "usapp"])
def test_console_scripts_are_installed(script):
    path = Path(sys.executable).with_name(script)
    result = subprocess.run([path, "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("usage: " + script)


def test_the_demo_prepares_its_study_by_the_reader_study_rules(tmp_path):
    """make_studies on tiny IVUS sets: each reader sees each anatomy once, every source in turn,
    every image on the organ's field of view with one fill and one byte length, and a fresh admin
    password and the reader links readable by the owner only."""
    import dataclasses
    import io

    from PIL import Image
    from sqlalchemy import select

    from app.study import canvas, db
    from app.study.images import png_length
    from tests.app.study_sets import write_sets

    sets, real = write_sets(tmp_path, ["ussim", "gan-seed0", "gan-seed1"], n=5, size=32, organ="ivus", real_corner=0)
    organ_sets = {"ivus": OrganSets("ivus", True, Path(real), Path(real), "ivus: tiny")}
    method_sets = {"ivus": {"ussim": Path(sets["ussim"]), "gan": [Path(sets["gan-seed0"]), Path(sets["gan-seed1"])]}}
    config = dataclasses.replace(TINY, study_cases={"ivus": 3}, study_practice=1, readers=("a", "b", "c"))
    db_path, password = tmp_path / "study.db", tmp_path / pipeline.ADMIN_PASSWORD_FILE
    studies = pipeline.make_studies(db_path, organ_sets, method_sets, config, tmp_path / "readers.txt", password)
    try:
        assert list(studies) == ["demo-ivus"] and studies["demo-ivus"]["methods"] == ["gan", "ussim"]
        for path in (password, tmp_path / "readers.txt"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(password.read_text().strip()) >= 20
        url = f"sqlite:///{db_path.resolve()}"
        with db.engine_for(url).connect() as connection:
            cases = connection.execute(select(db.case.c.png, db.case.c.source_sample_id)).all()
            assigned = connection.execute(
                select(db.assignment.c.reader_id, db.case.c.anatomy, db.case.c.method, db.case.c.is_practice)
                .join(db.case, db.case.c.id == db.assignment.c.case_id)).all()
        assert {len(c.png) for c in cases} == {png_length((32, 32))}
        assert not any(c.source_sample_id.startswith("gan-seed1") for c in cases)  # the first seed stands for gan
        inside = canvas.canvas_for("organ", "ivus", (32, 32)).inside
        outside = {np.asarray(Image.open(io.BytesIO(c.png)))[~inside].tobytes() for c in cases}
        assert len(outside) == 1
        for reader in {a.reader_id for a in assigned}:
            mine = [a for a in assigned if a.reader_id == reader]
            assert len({a.anatomy for a in mine}) == len(mine) == 4
            assert sorted(a.method for a in mine if not a.is_practice) == ["gan", "real", "ussim"]
    finally:
        db.dispose_engines()


def test_schedule_trains_exactly_the_demo_iterations_with_few_snapshots():
    """The demo's real schedules: 205 ovaries at batch 4 (51 iterations an epoch) train the
    configured 160 cgan iterations, not four whole epochs (204), and so do the 80 ovaries of the
    full-sector layout (20 an epoch, 8 epochs, a grid every 2); SpeckleGAN's 16 frames (4 an
    epoch) take 50 epochs with a grid and checkpoint every 10."""
    from app.demo.defaults import DEMO
    cgan = models.schedule("cgan", 205, DEMO, seed=1)
    assert (cgan["epochs"], cgan["max_iters"], cgan["snap_epochs"], cgan["seed"]) == (4, DEMO.iterations["cgan"], 1, 1)
    cgan = models.schedule("cgan", 80, DEMO, seed=1)
    assert (cgan["epochs"], cgan["max_iters"], cgan["snap_epochs"]) == (8, DEMO.iterations["cgan"], 2)
    speckle = models.schedule("specklegan", 16, DEMO, seed=0)
    assert (speckle["epochs"], speckle["max_iters"], speckle["snap_epochs"]) == (50, 200, 10)
    grown = models.schedule("pgsgan", 205, DEMO, seed=0)
    assert grown["max_iters"] == DEMO.iterations["pgsgan"] <= grown["epochs"] * 51


def test_training_stage_reports_weighted_progress(tmp_path, monkeypatch, capsys):
    """In a log the trainings' line gives the share of expected work (iterations weighted by each
    model's seconds an iteration), runs finished and a time left, and ends at 100 %."""
    from ussim import examples

    path = tmp_path / "toy.h5"
    imageset.write(examples.toy_imageset(n=8, size=64, seed=3), path)
    sets = OrganSets("ovary", True, path, path, "toy")
    config = dataclasses.replace(TINY, iterations={"cgan": 3, "segdiff": 3},
                                 seconds_per_iteration={"cgan": 3.0, "segdiff": 1.0})
    monkeypatch.setenv("USSIM_PROGRESS_INTERVAL", "0.05")
    records = models.train_all([("cgan", sets, 0), ("segdiff", sets, 0)], tmp_path / "runs", config, progress=True)
    assert [r["iterations"] for r in records] == [3, 3]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trainings (")]
    assert lines and "100%" in lines[-1] and "(2/2 runs done)" in lines[-1]
    shares = [int(line.split("):")[1].split("%")[0]) for line in lines]
    assert shares == sorted(shares) and all(0 <= share <= 100 for share in shares)
    assert all("<" in line for line in lines)  # elapsed<remaining on every line
