"""Phantom and label editor: draw a random phantom, edit its mask, simulate it.

Edits: paint a disc of any class (add a follicle, widen the lumen, add plaque; painting the
surrounding class over an object removes it), or move and resize one object (a connected region
of a class: a follicle, the lumen, a plaque) by millimetres and a scale factor. Each trained GAN or
diffusion model (segdiff; a run folder or snapshot file per line) then draws its image for the same
mask, timed like the simulator. The simulator's image comes at once from the fast engine
(ussim.fast: the full engine's point-spread functions convolved, a fraction of a second) and from
the full pulse-echo engine on request, each with its seconds.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import plotly.express as px
import streamlit as st
from scipy import ndimage

from compare.report.grids import colour_mask
from ussim import phantom, scan, tissue
from ussim.errors import UsageError
from ussim.phantoms import ivus, ovary

STATE = "phantom_editor"  # {"organ", "seed", "label", "x", "z", "classes"}
# What the full engine's image costs, named on its button: on 2 CPU cores, the ovary's 256 focused
# lines about 1 h 45 min (bench/RESULTS.md, "The depth scale adopted": 25 s a line), an IVUS turn about 1 s
# (README, the demo's seconds per image).
FULL_ENGINE_COST = {"ovary": "about 1 h 45 min on 2 cores", "ivus": "about 1 s on 2 cores"}
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


def objects(state: dict, class_index: int) -> np.ndarray:
    """Connected regions of a class, numbered 1, 2, ... from the largest down (0 elsewhere)."""
    regions, count = ndimage.label(state["label"] == class_index)
    sizes = np.bincount(regions.ravel(), minlength=count + 1)[1:]
    renumber = np.zeros(count + 1, np.int64)
    renumber[1 + np.argsort(-sizes, kind="stable")] = np.arange(1, count + 1)
    return renumber[regions]


def move_object(state: dict, class_index: int, number: int, dx_mm: float, dz_mm: float, scale: float) -> int:
    """Move object `number` of a class by (dx, dz) mm and scale it about its centre; the pixels it
    leaves take the class that surrounds it. Returns how many pixels changed."""
    numbered = objects(state, class_index)
    if not 1 <= number <= numbered.max(initial=0):
        raise UsageError(f"object {number} of class '{state['classes'][class_index]}' does not exist "
                         f"(the mask has {numbered.max(initial=0)}; 1 is the largest)")
    if not scale > 0:
        raise UsageError(f"scale {scale:g} must be positive")
    region = numbered == number
    ring = ndimage.binary_dilation(region, iterations=2) & ~region
    # DECISION: the vacated pixels take the class most common just around the object, so a
    # follicle moved out of the ovary leaves ovary behind, a plaque leaves wall.
    surrounding = np.bincount(state["label"][ring], minlength=len(state["classes"])).argmax()
    step_x, step_z = float(np.diff(state["x"]).mean()) * 1e3, float(np.diff(state["z"]).mean()) * 1e3
    centre = np.array(ndimage.center_of_mass(region))
    shift = np.array([dz_mm / step_z, dx_mm / step_x])
    # Output pixel p comes from source pixel centre + (p - centre - shift) / scale.
    moved = ndimage.affine_transform(region.astype(np.uint8), np.full(2, 1 / scale),
                                     offset=centre - (centre + shift) / scale, order=0).astype(bool)
    label = state["label"].copy()
    label[region] = surrounding
    label[moved] = class_index
    changed = int((label != state["label"]).sum())
    state["label"] = label
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
    with st.form("phantom_move"):
        st.markdown("**Move or resize an object** (a follicle, the lumen, a plaque)")
        class_name = st.selectbox("Class", state["classes"], key="move_class")
        number = st.number_input("Object (1 = the largest of its class)", min_value=1, value=1, step=1,
                                 key="move_number")
        dx_mm = st.number_input("Move x by (mm)", value=0.0, key="move_dx")
        dz_mm = st.number_input("Move depth by (mm)", value=0.0, key="move_dz")
        scale = st.number_input("Scale", min_value=0.1, max_value=5.0, value=1.0, key="move_scale")
        if st.form_submit_button("Move / resize"):
            try:
                changed = move_object(state, state["classes"].index(class_name), int(number), dx_mm, dz_mm, scale)
                st.caption(f"{changed} pixels changed")
            except UsageError as error:
                st.error(str(error))


@st.cache_resource(show_spinner="Loading the generator…")
def load_snapshot(path: str):
    from ganlab import generate  # torch loads only when a GAN is asked for
    return generate.load(path)


def in_model_classes(state: dict, model_classes: list[str]) -> tuple[np.ndarray, str]:
    """The editor's mask in the classes a model was trained on, and a note of what was merged.

    A random anatomy has the simulator's classes (ovary: follicles, free fluid, vessel, bowel;
    IVUS: catheter, plaques, guidewire); a model trained on the real archives knows only theirs.
    DECISION: such a mask is drawn through the organ's documented table onto the real set's classes
    (ussim.phantoms.<organ>.REAL_CLASS), the one the comparison uses; any other mismatch is refused.
    """
    classes = list(state["classes"])
    if classes == list(model_classes):
        return state["label"], ""
    table = {"ovary": ovary, "ivus": ivus}.get(state["organ"])
    if table is None or list(model_classes) != list(table.REAL_CLASSES) or any(c not in table.REAL_CLASS for c in classes):
        raise UsageError(f"trained on classes {model_classes}, the mask has {classes}")
    lookup = np.array([table.REAL_CLASSES.index(table.REAL_CLASS[name]) for name in classes], np.uint8)
    merged = [f"{name} as {table.REAL_CLASS[name]}" for name in classes
              if table.REAL_CLASS[name] != name and (state["label"] == classes.index(name)).any()]
    return lookup[state["label"]], ("; drawn with " + ", ".join(merged)) if merged else ""


def gan_image(path: str, state: dict, simulated_image: np.ndarray) -> tuple[np.ndarray, float, str]:
    """(image, seconds, note on merged classes) of the trained run at `path` for the editor's mask."""
    from ganlab import generate
    snapshot = load_snapshot(path)
    label, note = in_model_classes(state, snapshot.class_names)
    start = time.perf_counter()
    # DECISION: sketch-conditioned GANs draw their sketch from the simulator's (fast engine's) image
    # of the same mask, so every method sees one anatomy and the editor needs no sketch input.
    image = generate.generate_image(snapshot, label, image=simulated_image, seed=state["seed"])
    return image, time.perf_counter() - start, note


def engine_image(state: dict, engine: str):
    """The mask through the simulator's `engine` (ussim.simulate.ENGINES) as (image, seconds),
    kept in the editor's state for this very mask: a rerun of the page does not simulate again."""
    key = (engine, hash(state["label"].tobytes()), state["seed"])
    # only this mask's images are kept: an edit makes the earlier ones stale
    made = state["images"] = {k: v for k, v in state.get("images", {}).items() if k[1:] == key[1:]}
    if key not in made:
        sample = phantom.mask_sample(state["label"], scan.DisplayGrid(state["x"], state["z"]), state["classes"],
                                     state["organ"], seed=state["seed"], sample_id="edited", progress=False,
                                     engine=engine)
        made[key] = (np.asarray(sample["image"].values[0]), float(sample["seconds"][0]))
    return made[key]


def simulated(state: dict) -> None:
    """The fast engine's image of the mask at once; the full engine's on request; the models' on request."""
    try:
        # the first fast image of a probe and settings measures its PSF bank (ussim.psf), once per machine
        with st.spinner("Simulating (fast engine)…"):
            fast_image, fast_seconds = engine_image(state, "fast")
    except UsageError as error:
        st.error(str(error))
        return
    gan_runs = [line.strip() for line in st.text_area(
        "Trained GAN or diffusion (segdiff) runs (a run folder or snapshot.pt per line)",
        key="phantom_gan_runs").splitlines()
        if line.strip()]
    cost = FULL_ENGINE_COST.get(state["organ"], "slower")
    want_full = st.button(f"Simulate with the full engine (pulse-echo, {cost})", key="phantom_full")
    want_gans = st.button("Make the GAN and diffusion images for this mask", key="phantom_simulate")
    shown = [(fast_image, f"simulator, fast engine: {fast_seconds:.3g} s")]
    full_key = ("full", hash(state["label"].tobytes()), state["seed"])
    if want_full or full_key in state.get("images", {}):
        try:
            with st.spinner("Simulating (full engine)…"):
                full_image, full_seconds = engine_image(state, "full")
            shown.append((full_image, f"simulator, full engine: {full_seconds:.3g} s"))
        except UsageError as error:
            st.error(str(error))
    columns = st.columns(len(shown) + (len(gan_runs) if want_gans else 0))
    for column, (image, caption) in zip(columns, shown, strict=False):
        column.image(image, caption=caption)
    if not want_gans:
        return
    for column, path in zip(columns[len(shown):], gan_runs, strict=True):
        try:
            image, seconds, note = gan_image(path, state, fast_image)
        except (UsageError, OSError, KeyError, RuntimeError) as error:
            column.error(f"{path}: {error}")
            continue
        column.image(image, caption=f"{path}: {seconds:.3g} s{note}")


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
