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

from compare import methods, results
from compare.segmentation import store

CONFIG = {"displaylogo": False, "responsive": True}  # no link to plotly.com in the mode bar
HEIGHT = 380


def fragment(figure: go.Figure) -> str:
    """The chart's <div> and script, without plotly.js (the page embeds it once, inline)."""
    figure.update_layout(height=HEIGHT, margin=dict(l=60, r=20, t=50, b=60), template="plotly_white")
    return figure.to_html(full_html=False, include_plotlyjs=False, config=CONFIG)


def _error_bars(values: list[float], lows: list[float], highs: list[float]) -> dict:
    """plotly's asymmetric error bars from intervals (none where an interval is missing)."""
    return dict(type="data", symmetric=False,
                array=[h - v if np.isfinite(h) else 0 for v, h in zip(values, highs, strict=True)],
                arrayminus=[v - lo if np.isfinite(lo) else 0 for v, lo in zip(values, lows, strict=True)])


def timing(ds: xr.Dataset) -> str | None:
    figure = timing_figure(ds)
    return None if figure is None else fragment(figure)


def timing_figure(ds: xr.Dataset) -> go.Figure | None:
    """Seconds per image per method with its interval, on a log axis (the dashboard shows it too)."""
    rows = []
    for method in methods.ordered(ds, candidates_only=True):
        value = float(ds["value"].sel({"method": method, "metric": "seconds_per_image"}))
        if np.isfinite(value) and value > 0:
            at = ds.sel({"method": method})
            how = ", ".join(f"{title} {at[key].values}" for key, title in methods.TIMING_COLUMNS if key in ds.coords)
            bounds = results.interval_of(ds, method, "seconds_per_image")
            rows.append((methods.labelled(ds, method), value, *bounds, how))
    if not rows:
        return None
    names, values, lows, highs, how = (list(column) for column in zip(*rows, strict=True))
    figure = go.Figure(go.Bar(x=names, y=values, text=[f"{v:.3g} s" for v in values], textposition="outside",
                              error_y=_error_bars(values, lows, highs), hovertext=how))
    figure.update_yaxes(type="log", title="seconds per image (log scale)")
    figure.update_layout(title="Cost: wall seconds per image (device, batch and warm-up in the table; bars: 95 % "
                               "interval)")
    return figure


def js(ds: xr.Dataset) -> str | None:
    classes = ds["class"].values.tolist()
    figure = go.Figure()
    for method in methods.ordered(ds, candidates_only=True):
        row = [float(ds["class_value"].sel({"method": method, "class_metric": "js", "class": c})) for c in classes]
        if not np.isfinite(row).any():
            continue
        bounds = [results.interval_of(ds, method, "js", c) for c in classes]
        figure.add_trace(go.Bar(name=methods.labelled(ds, method), x=classes,
                                y=[v if np.isfinite(v) else None for v in row],
                                error_y=_error_bars(row, [lo for lo, _ in bounds], [hi for _, hi in bounds])))
    if not figure.data:
        return None
    figure.update_layout(title="JS divergence of gray-value histograms per class (lower = closer to the reference; "
                               "bars: 95 % interval)", barmode="group")
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
            figure.add_trace(go.Bar(name=f"{method}{store.condition_suffix(ds, method)}: {c}", x=x,
                                    y=[v if np.isfinite(v) else None for v in mean],
                                    error_y=_error_bars(mean.tolist(), low.tolist(), high.tolist())))
    if not figure.data:
        return None
    figure.update_layout(title="Segmentation Dice on the real test images, mean and 95 % interval (higher is better)",
                         barmode="group")
    figure.update_yaxes(title="Dice", range=[0, 1.05])
    return fragment(figure)
