"""The report's plotly charts, as HTML fragments that expect plotly.js to be loaded once by the page.

    timing        seconds per image per set, on a log axis (simulators and GANs differ by decades)
    js            per-class JS divergence, grouped bars (methods side by side within a class)
    segmentation  Dice per training, class and real-set size, with the std over test images

A chart with nothing finite to show is left out (returns None); its table still shows the dashes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

CONFIG = {"displaylogo": False, "responsive": True}  # no link to plotly.com in the mode bar
HEIGHT = 380


def fragment(figure: go.Figure) -> str:
    """The chart's <div> and script, without plotly.js (the page embeds it once, inline)."""
    figure.update_layout(height=HEIGHT, margin=dict(l=60, r=20, t=50, b=60), template="plotly_white")
    return figure.to_html(full_html=False, include_plotlyjs=False, config=CONFIG)


def timing(ds: xr.Dataset) -> str | None:
    seconds = ds["value"].sel({"metric": "seconds_per_image"}).values
    methods = [m for m, s in zip(ds["method"].values.tolist(), seconds, strict=True) if np.isfinite(s) and s > 0]
    if not methods:
        return None
    values = [float(s) for s in seconds if np.isfinite(s) and s > 0]
    figure = go.Figure(go.Bar(x=methods, y=values, text=[f"{v:.3g} s" for v in values], textposition="outside"))
    figure.update_yaxes(type="log", title="seconds per image (log scale)")
    figure.update_layout(title="Cost: wall seconds per image, as each producer recorded it")
    return fragment(figure)


def js(ds: xr.Dataset) -> str | None:
    values = ds["class_value"].sel({"class_metric": "js"})
    classes = ds["class"].values.tolist()
    figure = go.Figure()
    for method, role in zip(ds["method"].values.tolist(), ds["role"].values.tolist(), strict=True):
        row = values.sel({"method": method}).values
        if role == "reference" or not np.isfinite(row).any():
            continue
        figure.add_trace(go.Bar(name=method, x=classes, y=[float(v) if np.isfinite(v) else None for v in row]))
    if not figure.data:
        return None
    figure.update_layout(title="JS divergence of gray-value histograms per class (lower = closer to the reference)",
                         barmode="group")
    figure.update_yaxes(title="JS divergence (base 2)", rangemode="tozero")
    return fragment(figure)


def segmentation(ds: xr.Dataset) -> str | None:
    seg = ds["segmentation"]
    classes = ds["seg_class"].values.tolist()[1:]
    sizes = [int(n) for n in ds["n_real"].values]
    x = [f"{c}, n={n}" for n in sizes for c in classes]
    figure = go.Figure()
    for method in ds["seg_method"].values.tolist():
        at = seg.sel({"seg_method": method})
        mean = [float(at.sel({"n_real": n, "seg_class": c, "seg_metric": "dice"})) for n in sizes for c in classes]
        std = [float(at.sel({"n_real": n, "seg_class": c, "seg_metric": "dice_std"})) for n in sizes for c in classes]
        if not np.isfinite(mean).any():
            continue
        figure.add_trace(go.Bar(name=method, x=x, y=[v if np.isfinite(v) else None for v in mean],
                                error_y=dict(type="data", array=[v if np.isfinite(v) else 0 for v in std])))
    if not figure.data:
        return None
    figure.update_layout(title="Segmentation Dice on the real test images (higher is better)", barmode="group")
    figure.update_yaxes(title="Dice", range=[0, 1.05])
    return fragment(figure)
