"""The report's plotly charts, as HTML fragments that expect plotly.js to be loaded once by the page.

    timing        seconds per image per set, on a log axis (simulators and GANs differ by decades)
    js            per-class JS divergence, grouped bars (methods side by side within a class)
    segmentation  Dice per protocol, method, class and real-set size, with its 95 % interval

A chart with nothing finite to show is left out (returns None); its table still shows the dashes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from compare.segmentation import store

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
    """Dice per protocol and real-set size, one bar per method and foreground class, with the 95 %
    interval over seeds and test images as (asymmetric) error bars."""
    store.check_layout(ds)
    seg = ds["segmentation"]
    sizes = [int(n) for n in ds["n_real"].values]
    x = ["synthetic only" if n == 0 else f"n={n} real" for n in sizes]
    figure = go.Figure()
    for method in ds["seg_method"].values.tolist():
        for c in ds["seg_class"].values.tolist()[1:]:  # class 0 is the background
            at = seg.sel({"seg_method": method, "seg_class": c})
            mean, low, high = (at.sel({"seg_metric": f"dice{part}"}).values for part in ("", "_low", "_high"))
            if not np.isfinite(mean).any():
                continue
            figure.add_trace(go.Bar(
                name=f"{method}: {c}", x=x, y=[v if np.isfinite(v) else None for v in mean],
                error_y=dict(type="data", symmetric=False, array=np.nan_to_num(high - mean).tolist(),
                             arrayminus=np.nan_to_num(mean - low).tolist())))
    if not figure.data:
        return None
    figure.update_layout(title="Segmentation Dice on the real test images, mean and 95 % interval (higher is better)",
                         barmode="group")
    figure.update_yaxes(title="Dice", range=[0, 1.05])
    return fragment(figure)
