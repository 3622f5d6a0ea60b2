"""Comparison page: a results file's metrics table (every number with its 95 % interval, methods
grouped by what they saw of the reference), the differences the intervals resolve, the timing table
and chart (log axis; device, batch and warm-up stated), the per-class JS heat map and a
side-by-side viewer of one mask's images (real and every method's).

A file of several comparisons (compare.results.write_comparisons) shows its `notice` as a warning
and one comparison at a time, picked by title. The results path may come pre-filled from
`usapp --results PATH` or $USSIM_RESULTS (app.settings); this page is an admin page only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import settings
from compare import methods, results, verdicts
from compare.report import charts, grids, tables
from compare.segmentation import store
from ussim.errors import UsageError


def metrics_frame(ds) -> pd.DataFrame:
    table = tables.realism_table(ds)
    return pd.DataFrame(table.rows, columns=table.header)


def js_heatmap(ds) -> go.Figure | None:
    values = ds["class_value"].sel({"class_metric": "js"})
    rows = [m for m in methods.ordered(ds, candidates_only=True) if np.isfinite(values.sel({"method": m}).values).any()]
    if not rows:
        return None
    z = [[float(v) if np.isfinite(v) else None for v in values.sel({"method": m}).values] for m in rows]
    text = [[tables.cell(ds, m, "js", c, 3) for c in ds["class"].values.tolist()] for m in rows]
    figure = go.Figure(go.Heatmap(z=z, x=ds["class"].values.tolist(), y=[methods.labelled(ds, m) for m in rows],
                                  colorscale="Viridis", colorbar=dict(title="JS"), text=text, texttemplate="%{text}"))
    figure.update_layout(title="JS divergence of gray-value histograms per class (lower = closer to real; "
                               "value [95 % interval])")
    return figure


def timing_frame(ds) -> pd.DataFrame:
    """Seconds per image with the device, batch, threads, clock and warm-up each producer stated."""
    table = tables.timing_table(ds)
    return pd.DataFrame(table.rows, columns=table.header)


def training_size_curves(ds) -> go.Figure | None:
    """Dice on the real test images against the number of real training images, per method and class,
    with the 95 % interval over seeds and test images where the file holds one; a method's
    synthetic-only network (n_real 0) as a dotted level line."""
    if "segmentation" not in ds:
        return None
    metrics = ds["seg_metric"].values.tolist()
    sizes = [int(n) for n in ds["n_real"].values if n > 0]
    figure = go.Figure()
    for method in ds["seg_method"].values.tolist():
        for seg_class in ds["seg_class"].values.tolist()[1:]:  # class 0 is the background
            at = ds["segmentation"].sel({"seg_method": method, "seg_class": seg_class})
            dice = [float(at.sel({"seg_metric": "dice", "n_real": n})) for n in sizes]
            if any(np.isfinite(dice)):
                error = None
                if "dice_low" in metrics:
                    low, high = ([float(at.sel({"seg_metric": m, "n_real": n})) for n in sizes]
                                 for m in ("dice_low", "dice_high"))
                    error = dict(type="data", symmetric=False, array=np.nan_to_num(np.subtract(high, dice)).tolist(),
                                 arrayminus=np.nan_to_num(np.subtract(dice, low)).tolist())
                figure.add_trace(go.Scatter(x=sizes, y=[v if np.isfinite(v) else None for v in dice],
                                            mode="lines+markers", error_y=error,
                                            name=f"{method}{store.condition_suffix(ds, method)}: {seg_class}"))
            alone = float(at.sel({"seg_metric": "dice", "n_real": 0})) if 0 in ds["n_real"].values else np.nan
            if np.isfinite(alone) and sizes:
                figure.add_trace(go.Scatter(x=[sizes[0], sizes[-1]], y=[alone, alone], mode="lines",
                                            line=dict(dash="dot"), name=f"{method}: {seg_class}, synthetic only"))
    if not figure.data:
        return None
    figure.update_layout(title="Segmentation Dice against real training-set size (higher is better)")
    figure.update_xaxes(title="real training images", type="log" if len(sizes) > 2 else "linear")
    figure.update_yaxes(title="Dice", range=[0, 1.05])
    return figure


@st.cache_data(show_spinner="Reading the image sets…")
def load_grid(path: str, name: str, sets_dir: str, rows: int):
    ds = results.read_comparisons(path).datasets[name]
    return grids.build(ds, Path(path), Path(sets_dir) if sets_dir else None, rows=rows)


def viewer(path: str, name: str, row_key: str) -> None:
    st.subheader("Side by side: one mask, every method")
    sets_dir = st.text_input("Folder holding the image sets (optional)", key="comparison_sets_dir")
    try:
        grid = load_grid(path, name, sets_dir.strip(), 8)
    except (UsageError, OSError) as error:
        st.info(f"viewer unavailable: {error}")
        return
    if grid is None:
        st.info("No method image is paired to a real mask; nothing to show side by side.")
        return
    for notice in grid.notices:
        st.warning(notice)
    row = st.select_slider("Mask (reference sample id)", options=list(range(len(grid.row_ids))),
                           format_func=lambda i: grid.row_ids[i], key=row_key)
    columns = st.columns(len(grid.columns))
    for column, title, cell in zip(columns, grid.columns, grid.cells[row], strict=True):
        column.markdown(f"**{title}**")
        if cell is None:
            column.caption("no image from this mask")
        else:
            # plotly images zoom and pan in the browser
            figure = px.imshow(cell, color_continuous_scale="gray" if cell.ndim == 2 else None)
            figure.update_layout(coloraxis_showscale=False, margin=dict(l=0, r=0, t=0, b=0))
            figure.update_xaxes(visible=False)
            figure.update_yaxes(visible=False)
            column.plotly_chart(figure, key=f"viewer_{title}")


def choose(found: results.Comparisons) -> str:
    """The comparison to show: the only one, or the one picked by its title."""
    names = list(found.datasets)
    if len(names) == 1:
        return names[0]
    return st.radio("Comparison", names, format_func=found.title, key="comparison_choice", horizontal=True)


def render() -> None:
    st.title("Comparison")
    path = st.text_input("Results file (.nc, from `uscompare run`)", value=settings.results_path() or "",
                         key="comparison_path").strip()
    if not path:
        st.info("Enter the path of a results file to see its metrics.")
        return
    try:
        found = results.read_comparisons(path)
    except UsageError as error:
        st.error(str(error))
        return
    if found.attrs.get("notice"):
        st.warning(str(found.attrs["notice"]))
    name = choose(found)
    ds = found.datasets[name]
    curves = training_size_curves(ds)
    if "value" not in ds:  # a file holding only the segmentation benchmark
        if curves is not None:
            st.plotly_chart(curves, key="training_size_curves")
        return
    st.subheader("Metrics")
    st.caption("Each cell: value [95 % interval]. Rows are grouped by what each method saw of the reference; "
               f"{methods.FROM_REFERENCE_MARK} marks side information taken from the reference image itself.")
    st.dataframe(metrics_frame(ds), hide_index=True)
    st.subheader("What the intervals resolve")
    for line in verdicts.verdicts(ds):
        st.markdown(f"- {line}")
    st.subheader("Cost")
    st.dataframe(timing_frame(ds), hide_index=True)
    figures = (("js_heatmap", js_heatmap(ds)), ("timing_chart", charts.timing_figure(ds)),
               ("training_size_curves", curves))
    for key, figure in figures:
        if figure is not None:
            st.plotly_chart(figure, key=key)
    # a row slider per comparison: their masks differ, so one comparison's row means nothing in another
    viewer(path, name, "comparison_row" if not found.grouped else f"comparison_row_{name}")


if __name__ == "__main__":  # run as an st.Page script by app/main.py
    render()
