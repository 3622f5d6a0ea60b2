"""Admin pages run headless with AppTest: create a study, read its results, open a comparison."""

import datetime
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app import study
from app.study import db
from compare import cli
from tests.app.study_sets import write_sets
from tests.compare.conftest import resimulate
from ussim import examples, imageset
from ussim.errors import UsageError

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
TIMEOUT = 60


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    monkeypatch.setenv("USSIM_STUDY_DB", url)
    monkeypatch.setenv("USSIM_ADMIN_PASSWORD", "test-admin")  # admin pages need a password
    yield url
    db.dispose_engines()


def _signed_in_app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    at.session_state["admin_signed_in"] = True
    return at


def _admin(page):
    return _signed_in_app().run().switch_page(page).run()


def test_admin_creates_a_study_and_gets_one_link_per_reader(env, tmp_path):
    at = _admin("views/study_admin.py")
    at.text_input(key="study_name").input("pilot")
    sets, real = write_sets(tmp_path, ["gan", "sim"], n=4)
    at.text_input(key="real_set").input(real)
    at.text_area(key="method_sets").input(f"gan={sets['gan']}\nsim={sets['sim']}")
    at.selectbox(key="field_of_view").set_value("full")  # toy sets have no scanner field of view
    at.number_input(key="n_cases").set_value(2)
    at.number_input(key="practice_cases").set_value(1)
    at.text_area(key="reader_names").input("ann\nbob")
    at = at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error
    links = [c.value for c in at.code]
    assert len(links) == 2 and all("/?token=" in link for link in links)
    token = links[0].split("?token=")[1]
    session = study.open_session(env, token)
    assert study.progress(session) == (0, 3)  # 2 scored anatomies + 1 practice


def test_a_bad_set_path_is_one_line_error(env, tmp_path):
    at = _admin("views/study_admin.py")
    at.text_input(key="study_name").input("pilot")
    at.text_input(key="real_set").input(str(tmp_path / "missing.h5"))
    at.text_area(key="method_sets").input("gan")
    at.text_area(key="reader_names").input("ann")
    at = at.button[0].click().run()
    assert not at.exception and len(at.error) == 1 and "NAME=path" in at.error[0].value


def test_results_page_shows_numbers_charts_and_csv(env, tmp_path, monkeypatch):
    ticks = iter(range(1000))  # the server's clock moves 2 s per reading: every case takes 2 s
    monkeypatch.setattr(db, "now", lambda: datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
                        + datetime.timedelta(seconds=2 * next(ticks)))
    sets, real = write_sets(tmp_path, ["gan"], n=4)
    handle = study.create_study(env, "pilot", sets, real, 2, field_of_view="full")
    for token in study.add_readers(handle, ["ann", "bob"]).values():
        session = study.open_session(env, token)
        while (case := study.next_case(session)) is not None:
            study.submit(session, case.case_key, "synthetic", 4)
    at = _admin("views/study_results.py")
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Specificity (real called real)"] == "0.000"
    assert metrics["Median seconds per case"] == "2.0"
    assert "Fleiss κ" in metrics and "AUC (confidence ratings)" in metrics
    assert at.dataframe[0].value["called synthetic"].tolist() == ["1.000"]
    assert at.dataframe[1].value["sensitivity"].tolist() == ["1.000", "1.000"]  # per reader
    assert len(at.get("plotly_chart")) == 2
    assert len(at.get("download_button")) == 2  # answers (CSV) and design (JSON)


def test_comparison_page_shows_table_charts_and_viewer(env, tmp_path):
    real = examples.toy_imageset(n=8, size=176, seed=0)
    real_path = imageset.write(real, tmp_path / "real.h5")
    sim_path = imageset.write(resimulate(real, seed=1), tmp_path / "sim.h5")
    gan_path = imageset.write(resimulate(real, seed=2), tmp_path / "gan.h5")
    out = tmp_path / "results.nc"
    assert cli.run_cli("uscompare", cli._main, ["run", "--reference", str(real_path), "--method", f"physics={sim_path}",
                                                "--method", f"gan={gan_path}", "--out", str(out), "--backbone", "texture-v1", "--kid-subsets", "5",
                                                "--diversity-pairs", "5", "--pr-k", "2", "--dc-k", "2",
                                                # FRD off: pyradiomics was most of this test's time; the
                                                # grouped file test_pages_comparisons opens holds FRD
                                                "--frd", "off", "--no-progress"]) == 0
    at = _signed_in_app().run()
    at.text_input(key="comparison_path").input(str(out))
    at = at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert "physics" in table.iloc[:, 0].tolist() and "sees" in table.columns
    assert re.fullmatch(r"\S+ \[\S+, \S+\]", table.loc[table.iloc[:, 0] == "physics", "SSIM"].item())
    assert "What the intervals resolve" in [h.value for h in at.subheader]
    assert any("FID [texture-v1] (lower is better): no difference between methods is resolved" in m.value
               for m in at.markdown)
    assert "warm-up" in at.dataframe[1].value.columns  # the timing table states how seconds were measured
    assert len(at.get("plotly_chart")) >= 3  # JS heat map, timing, and the viewer's images


def test_comparison_page_refuses_a_missing_file_in_one_line(env, tmp_path):
    at = _signed_in_app().run()
    at.text_input(key="comparison_path").input(str(tmp_path / "nope.nc"))
    at = at.run()
    assert not at.exception and len(at.error) == 1 and "no such results file" in at.error[0].value


def test_phantom_editor_generates_and_paints_a_mask(env):
    at = _admin("views/phantom.py")
    at.selectbox(key="phantom_organ").set_value("ovary")
    at.select_slider(key="phantom_size").set_value(64)
    at = at.button[0].click().run()  # Generate
    assert not at.exception and not at.error
    assert at.get("plotly_chart")
    label = at.session_state["phantom_editor"]["label"].copy()
    at.selectbox(key="paint_class").set_value("follicle")
    at.number_input(key="paint_diameter").set_value(6.0)
    at = at.button[1].click().run()  # Paint
    assert not at.exception
    after = at.session_state["phantom_editor"]["label"]
    assert (after == 2).sum() > (label == 2).sum()
    assert any("pixels changed" in c.value for c in at.caption)
    at.selectbox(key="move_class").set_value("follicle")
    at.number_input(key="move_scale").set_value(0.5)
    at = at.button[2].click().run()  # Move / resize: the largest follicle shrinks
    assert not at.exception and not at.error
    assert (at.session_state["phantom_editor"]["label"] == 2).sum() < (after == 2).sum()


def test_training_size_curves_plot_dice_per_method_and_class():
    import numpy as np
    import xarray as xr

    from app.views.comparison import training_size_curves
    dice = np.full((2, 3, 1, 3), np.nan)
    dice[:, :, 0, 1:] = [[[0.5, 0.6], [0.6, 0.7], [0.7, 0.8]], [[0.6, 0.6], [0.7, 0.7], [0.8, 0.9]]]
    ds = xr.Dataset({"segmentation": (("seg_method", "n_real", "seg_metric", "seg_class"), dice)},
                    coords={"seg_method": ["real_only", "gan"], "n_real": [5, 10, 20], "seg_metric": ["dice"],
                            "seg_class": ["background", "ovary", "follicle"]})
    figure = training_size_curves(ds)
    assert len(figure.data) == 4 and list(figure.data[0].x) == [5, 10, 20]
    assert training_size_curves(xr.Dataset()) is None


def test_admin_adds_readers_to_an_existing_study(env, tmp_path):
    sets, real = write_sets(tmp_path, ["gan"], n=2)
    study.create_study(env, "pilot", sets, real, 1, field_of_view="full")
    at = _admin("views/study_admin.py")
    at.selectbox(key="add_readers_study").set_value("pilot")
    at.text_area(key="add_reader_names").input("cy")
    at = at.button[1].click().run()  # the second form's button
    assert not at.exception and not at.error
    links = [c.value for c in at.code]
    assert len(links) == 1 and study.progress(study.open_session(env, links[0].split("?token=")[1])) == (0, 1)


def test_moving_and_resizing_a_follicle_keeps_its_shape_and_fills_its_place():
    from app.views import phantom as editor
    state = editor.draw("ovary", seed=1, size=128, follicles=(1, 1), diameter=(8.0, 8.0))
    follicle = state["classes"].index("follicle")
    before = editor.objects(state, follicle) == 1
    step_x = float(np.diff(state["x"]).mean()) * 1e3
    editor.move_object(state, follicle, 1, dx_mm=10 * step_x, dz_mm=0.0, scale=1.0)
    after = editor.objects(state, follicle) == 1
    assert after.sum() == before.sum()                              # a pure shift keeps every pixel
    assert np.array_equal(np.roll(before, 10, axis=1), after)      # 10 px to the right
    assert not (state["label"][before & ~after] == follicle).any()  # its old place is refilled
    editor.move_object(state, follicle, 1, dx_mm=0.0, dz_mm=0.0, scale=1.5)
    grown = (editor.objects(state, follicle) == 1).sum()
    assert abs(grown / after.sum() - 2.25) < 0.25                   # area grows as scale squared
    with pytest.raises(UsageError, match="object 3 of class 'follicle' does not exist"):
        editor.move_object(state, follicle, 3, 0.0, 0.0, 1.0)


def test_the_editor_simulates_the_edited_mask_and_names_an_unusable_gan(env, tmp_path):
    at = _admin("views/phantom.py")
    at.selectbox(key="phantom_organ").set_value("ivus")
    at.select_slider(key="phantom_size").set_value(64)
    at = at.button[0].click().run()  # Generate
    assert not at.exception
    images = [node for node in _walk(at._tree) if type(node).__name__ == "Image"]
    assert len(images) == 1 and "fast engine:" in images[0].captions[0]  # the fast engine's image at once
    at = at.button(key="phantom_full").click().run()
    assert not at.exception
    captions = [node.captions[0] for node in _walk(at._tree) if type(node).__name__ == "Image"]
    assert len(captions) == 2 and "full engine:" in captions[1]  # the full engine's on request, both timed
    assert all(caption.endswith(" s") for caption in captions)
    at.text_area(key="phantom_gan_runs").set_value(str(tmp_path))  # a folder that is no training run
    at = at.button(key="phantom_simulate").click().run()
    assert not at.exception
    images = [node for node in _walk(at._tree) if type(node).__name__ == "Image"]
    assert len(images) == 2  # the simulator's two images; the GAN column holds an error instead
    assert [e.value for e in at.error] == [f"{tmp_path}: {tmp_path} is not a finished training run (no snapshot.pt)"]


def _walk(node):
    yield node
    children = getattr(node, "children", None)
    for child in children.values() if isinstance(children, dict) else []:
        yield from _walk(child)


def test_the_editor_shows_a_trained_gans_image_for_the_edited_mask(env, tmp_path):
    """A GAN trained (two iterations) on masks with the IVUS phantom's classes draws the edited
    mask beside the simulator, each with its time."""
    from ganlab import train
    from tests.ganlab.conftest import TINY
    from ussim.phantoms import ivus

    toy = examples.toy_imageset(n=4, size=64, seed=2)
    label = toy["label"].values * 2  # classes 0 and 2 (outside_EEM, lumen) of the IVUS table
    data = imageset.make(toy["image"].values, label.astype(np.uint8), class_names=list(ivus.CLASS_NAMES),
                         organ="ivus", method="toy", params={})
    imageset.write(data, tmp_path / "ivus_toy.h5")
    import torch
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:  # training sets torch's threads (and may set deterministic mode): give them back after
        run = train.train("cgan", tmp_path / "ivus_toy.h5", preset="cpu-demo", overrides={**TINY, "max_iters": 2},
                          runs_root=tmp_path / "runs", progress=False)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    at = _admin("views/phantom.py")
    at.selectbox(key="phantom_organ").set_value("ivus")
    at.select_slider(key="phantom_size").set_value(64)
    at = at.button[0].click().run()
    at.text_area(key="phantom_gan_runs").set_value(str(run))
    at = at.button(key="phantom_simulate").click().run()
    assert not at.exception and not at.error
    images = [node for node in _walk(at._tree) if type(node).__name__ == "Image"]
    assert len(images) == 2  # the simulator's (fast engine) and the GAN's
