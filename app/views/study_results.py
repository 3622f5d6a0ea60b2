"""Study results page (admin only): accuracy per method with 95 % CI, radar chart, specificity,
AUC, Fleiss kappa, time per case, CSV download."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from sqlalchemy import select

from app import settings, study
from app.study import db
from ussim.errors import UsageError


def study_names(db_url: str) -> list[str]:
    with db.engine_for(db_url).connect() as connection:
        return sorted(connection.execute(select(db.study.c.name)).scalars())


def number(value: float, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def accuracy_chart(summary: dict) -> go.Figure:
    methods = list(summary["methods"])
    acc = [summary["methods"][m]["accuracy"] for m in methods]
    low = [summary["methods"][m]["accuracy_ci95"][0] for m in methods]
    high = [summary["methods"][m]["accuracy_ci95"][1] for m in methods]
    figure = go.Figure(go.Bar(x=methods, y=acc, error_y=dict(
        type="data", symmetric=False, array=[h - a for a, h in zip(acc, high, strict=True)],
        arrayminus=[a - lo for a, lo in zip(acc, low, strict=True)])))
    figure.update_layout(title="Accuracy per method (share called synthetic), bootstrap 95 % CI")
    figure.update_yaxes(range=[0, 1.05], title="accuracy")
    return figure


def radar_chart(summary: dict) -> go.Figure:
    # As the PGSgan paper's Fig. 6b: one axis per method, readers' accuracy on it; lower = more realistic.
    methods = list(summary["methods"])
    acc = [summary["methods"][m]["accuracy"] for m in methods]
    figure = go.Figure(go.Scatterpolar(r=acc + acc[:1], theta=methods + methods[:1], fill="toself",
                                       name="accuracy"))
    figure.update_layout(title="Accuracy per method (radar)", polar=dict(radialaxis=dict(range=[0, 1])))
    return figure


def table(summary: dict) -> pd.DataFrame:
    rows = [{"method": m, "answers": v["n_answers"], "accuracy": number(v["accuracy"]),
             "95 % CI": f"{number(v['accuracy_ci95'][0])} – {number(v['accuracy_ci95'][1])}",
             "AUC": number(v["auc"]), "median s / case": number(v["median_seconds"], 1)}
            for m, v in summary["methods"].items()]
    return pd.DataFrame(rows)


def render() -> None:
    db_url = settings.db_url()
    st.title("Study results")
    try:
        names = study_names(db_url)
    except Exception as error:  # an unreachable or foreign database: one line, no traceback
        st.error(f"cannot read studies from {db_url}: {error}")
        return
    if not names:
        st.info(f"No study in {db_url} yet; create one on the Study admin page.")
        return
    name = st.selectbox("Study", names, key="results_study")
    try:
        handle = study.open_study(db_url, name)
        summary = study.results(handle)
    except UsageError as error:
        st.error(str(error))
        return
    st.caption(f"{summary['n_answers']} scored answers from {summary['n_readers']} readers (practice left out).")
    columns = st.columns(5)
    columns[0].metric("Specificity (real called real)", number(summary["specificity"]),
                      help="95 % CI {} – {}".format(*map(number, summary["specificity_ci95"])))
    columns[1].metric("Overall accuracy", number(summary["overall_accuracy"]))
    columns[2].metric("AUC (confidence ratings)", number(summary["auc"]))
    columns[3].metric("Fleiss κ", number(summary["fleiss_kappa"]))
    columns[4].metric("Median seconds per case", number(summary["median_seconds"], 1))
    st.dataframe(table(summary), hide_index=True)
    if summary["methods"]:
        left, right = st.columns(2)
        left.plotly_chart(accuracy_chart(summary), key="accuracy_chart")
        right.plotly_chart(radar_chart(summary), key="radar_chart")
    st.download_button("Download answers (CSV)", study.export_csv(handle), file_name=f"{name}_answers.csv",
                       mime="text/csv", key="download_csv")


if __name__ == "__main__":  # run as an st.Page script by app/main.py
    render()
