"""Phantom and label editor: draw a random phantom, paint discs into its mask, simulate it.

Each trained GAN (a run folder or snapshot file per line) then draws its image for the same mask,
timed like the simulator. Not yet here: dragging an existing follicle to move or resize it;
painting a disc of any class covers adding or enlarging a follicle, widening the lumen or adding
plaque, and painting the surrounding class over one removes it.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import plotly.express as px
import streamlit as st

from compare.report.grids import colour_mask
from ussim import phantom, scan, tissue
from ussim.errors import UsageError
from ussim.phantoms import ivus, ovary

STATE = "phantom_editor"  # {"organ", "seed", "label", "x", "z", "classes"}
PLAQUES = ("none", "fibrous", "lipid", "calcified")


def draw(organ: str, seed: int, size: int, follicles=(0, 15), diameter=(2.0, 25.0), plaque="random") -> dict:
    grid = phantom.display_grid(tissue.load(organ), (size, size))
    if organ == "ovary":
        params = ovary.OvaryParams(follicles=tuple(follicles), follicle_diameter_mm=tuple(diameter))
    else:
        params = ivus.IvusParams()
        if plaque != "random":
            params = dataclasses.replace(params, plaque_probabilities=tuple(
                float(p == plaque) for p in PLAQUES))
    label, _ = phantom.GENERATORS[organ].draw(grid.x, grid.z, np.random.default_rng(seed), params)
    return {"organ": organ, "seed": seed, "label": label, "x": grid.x, "z": grid.z,
            "classes": list(phantom.GENERATORS[organ].CLASS_NAMES)}


def paint_disc(state: dict, class_index: int, x_mm: float, z_mm: float, diameter_mm: float) -> int:
    """Set every pixel within the disc to `class_index`; returns how many pixels changed."""
    px_, pz = np.meshgrid(state["x"] * 1e3, state["z"] * 1e3)
    inside = (px_ - x_mm) ** 2 + (pz - z_mm) ** 2 <= (diameter_mm / 2) ** 2
    changed = int((inside & (state["label"] != class_index)).sum())
    state["label"] = np.where(inside, np.uint8(class_index), state["label"]).astype(np.uint8)
    return changed


def mask_figure(state: dict):
    x, z = state["x"] * 1e3, state["z"] * 1e3
    figure = px.imshow(colour_mask(state["label"]), x=x, y=z, labels=dict(x="x (mm)", y="depth (mm)"))
    figure.update_layout(margin=dict(l=0, r=0, t=30, b=0), title="mask")
    return figure


def generator_form() -> None:
    with st.form("phantom_generate"):
        organ = st.selectbox("Organ", list(phantom.GENERATORS), key="phantom_organ")
        seed = st.number_input("Seed", min_value=0, value=0, step=1, key="phantom_seed")
        size = st.select_slider("Size (px)", [64, 128, 256], value=128, key="phantom_size")
        follicles = st.slider("Follicles (ovary)", 0, 15, (0, 15), key="phantom_follicles")
        diameter = st.slider("Follicle diameter, mm (ovary)", 2.0, 25.0, (2.0, 25.0), key="phantom_diameter")
        plaque = st.selectbox("Plaque type (IVUS)", ["random", *PLAQUES], key="phantom_plaque")
        if st.form_submit_button("Generate"):
            try:
                st.session_state[STATE] = draw(organ, int(seed), int(size), follicles, diameter, plaque)
            except UsageError as error:
                st.error(str(error))


def editor(state: dict) -> None:
    with st.form("phantom_paint"):
        st.markdown("**Paint a disc** (add or enlarge a follicle, widen the lumen, add plaque…)")
        class_name = st.selectbox("Class", state["classes"], key="paint_class")
        x_mm = st.number_input("Centre x (mm)", value=float(np.mean(state["x"]) * 1e3), key="paint_x")
        z_mm = st.number_input("Centre depth (mm)", value=float(np.mean(state["z"]) * 1e3), key="paint_z")
        diameter_mm = st.number_input("Diameter (mm)", min_value=0.1, value=5.0, key="paint_diameter")
        if st.form_submit_button("Paint"):
            changed = paint_disc(state, state["classes"].index(class_name), x_mm, z_mm, diameter_mm)
            st.caption(f"{changed} pixels changed")


@st.cache_resource(show_spinner="Loading the generator…")
def load_snapshot(path: str):
    from ganlab import generate  # torch loads only when a GAN is asked for
    return generate.load(path)


def gan_image(path: str, state: dict, simulated_image: np.ndarray) -> tuple[np.ndarray, float]:
    from ganlab import generate
    snapshot = load_snapshot(path)
    if snapshot.class_names != state["classes"]:
        raise UsageError(f"{path}: trained on classes {snapshot.class_names}, the mask has {state['classes']}")
    start = time.perf_counter()
    # DECISION: sketch-conditioned GANs draw their sketch from the simulator's image of the same
    # mask, so every method sees one anatomy and the editor needs no sketch input.
    image = generate.generate_image(snapshot, state["label"], image=simulated_image, seed=state["seed"])
    return image, time.perf_counter() - start


def simulated(state: dict) -> None:
    gan_runs = [line.strip() for line in st.text_area(
        "Trained GAN runs (a run folder or snapshot.pt per line)", key="phantom_gan_runs").splitlines()
        if line.strip()]
    if not st.button("Make the images for this mask", key="phantom_simulate"):
        return
    try:
        with st.spinner("Simulating…"):
            sample = phantom.mask_sample(state["label"], scan.DisplayGrid(state["x"], state["z"]),
                                         state["classes"], state["organ"], seed=state["seed"], sample_id="edited",
                                         progress=False)
    except UsageError as error:
        st.error(str(error))
        return
    simulated_image = np.asarray(sample["image"].values[0])
    columns = st.columns(1 + len(gan_runs))
    columns[0].image(simulated_image, caption=f"simulator: {float(sample['seconds'][0]):.3g} s")
    for column, path in zip(columns[1:], gan_runs, strict=True):
        try:
            image, seconds = gan_image(path, state, simulated_image)
        except (UsageError, OSError, KeyError, RuntimeError) as error:
            column.error(f"{path}: {error}")
            continue
        column.image(image, caption=f"{path}: {seconds:.3g} s")


def render() -> None:
    st.title("Phantom editor")
    generator_form()
    state = st.session_state.get(STATE)
    if state is None:
        st.info("Generate a phantom to edit its mask.")
        return
    left, right = st.columns(2)
    with left:
        editor(state)
    right.plotly_chart(mask_figure(state), key="phantom_mask")
    simulated(state)


if __name__ == "__main__":  # run as an st.Page script by app/main.py
    render()
