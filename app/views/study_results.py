"""Study results page (admin only): per method the share called synthetic with its 95 % CI (two-way
bootstrap), exact binomial p and AUC; radar chart; specificity; per-reader sensitivity and
specificity; Cohen's and Fleiss' kappa; time per case; the answers (CSV) and the design (JSON)."""

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
    share = [summary["methods"][m]["called_synthetic"] for m in methods]
    low = [summary["methods"][m]["called_synthetic_ci95"][0] for m in methods]
    high = [summary["methods"][m]["called_synthetic_ci95"][1] for m in methods]
    figure = go.Figure(go.Bar(x=methods, y=share, error_y=dict(
        type="data", symmetric=False, array=[h - a for a, h in zip(share, high, strict=True)],
        arrayminus=[a - lo for a, lo in zip(share, low, strict=True)])))
    figure.update_layout(title="Share called synthetic per method, 95 % CI (bootstrap over readers and cases)")
    figure.update_yaxes(range=[0, 1.05], title="called synthetic")
    return figure


def radar_chart(summary: dict) -> go.Figure:
    # As the PGSgan paper's Fig. 6b: one axis per method, readers' accuracy on it; lower = more realistic.
    methods = list(summary["methods"])
    share = [summary["methods"][m]["called_synthetic"] for m in methods]
    figure = go.Figure(go.Scatterpolar(r=share + share[:1], theta=methods + methods[:1], fill="toself",
                                       name="called synthetic"))
    figure.update_layout(title="Share called synthetic per method (radar)", polar=dict(radialaxis=dict(range=[0, 1])))
    return figure


def interval(pair) -> str:
    return f"{number(pair[0])} – {number(pair[1])}"


def table(summary: dict) -> pd.DataFrame:
    rows = [{"method": m, "answers": v["n_answers"], "called synthetic": number(v["called_synthetic"]),
             "95 % CI": interval(v["called_synthetic_ci95"]), "binomial p (vs 0.5)": number(v["binomial_p"], 4),
             "AUC vs real": number(v["auc"]), "AUC 95 % CI": interval(v["auc_ci95"]),
             "median s / case": number(v["median_seconds"], 1)}
            for m, v in summary["methods"].items()]
    return pd.DataFrame(rows)


def reader_table(summary: dict) -> pd.DataFrame:
    return pd.DataFrame([{"reader": name, "answers": v["n_answers"], "sensitivity": number(v["sensitivity"]),
                          "specificity": number(v["specificity"]), "accuracy": number(v["accuracy"])}
                         for name, v in summary["readers"].items()])


def kappa_table(summary: dict) -> pd.DataFrame:
    # Only pairs that read common cases: in the Latin square readers r and r + (1 + methods).
    return pd.DataFrame([{"readers": pair, "shared cases": v["shared_cases"], "Cohen κ": number(v["kappa"])}
                         for pair, v in summary["cohen_kappa"].items() if v["shared_cases"]])


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
    st.caption(f"{summary['n_answers']} scored answers from {summary['n_readers']} readers on "
               f"{summary['n_anatomies']} anatomies (practice left out). Intervals: 95 %, bootstrap over "
               "readers and anatomies resampled independently. Synthetic is the positive class.")
    columns = st.columns(5)
    columns[0].metric("Specificity (real called real)", number(summary["specificity"]),
                      help=f"95 % CI {interval(summary['specificity_ci95'])}")
    columns[1].metric("Overall accuracy", number(summary["overall_accuracy"]),
                      help=f"95 % CI {interval(summary['overall_accuracy_ci95'])}; exact binomial p against 0.5: "
                           f"{number(summary['overall_binomial_p'], 4)}")
    columns[2].metric("AUC (confidence ratings)", number(summary["auc"]),
                      help=f"95 % CI {interval(summary['auc_ci95'])}")
    columns[3].metric("Fleiss κ", number(summary["fleiss_kappa"]),
                      help=f"{summary['fleiss_cases']} cases read by {summary['fleiss_raters']} readers each; readers "
                           "r and r + (1 + methods) share their cases")
    columns[4].metric("Median seconds per case", number(summary["median_seconds"], 1))
    st.dataframe(table(summary), hide_index=True)
    if summary["methods"]:
        left, right = st.columns(2)
        left.plotly_chart(accuracy_chart(summary), key="accuracy_chart")
        right.plotly_chart(radar_chart(summary), key="radar_chart")
    st.subheader("Per reader")
    st.dataframe(reader_table(summary), hide_index=True)
    kappas = kappa_table(summary)
    if len(kappas):
        st.dataframe(kappas, hide_index=True)
    else:
        st.caption("Cohen's κ: no two readers share a case yet (readers r and r + number of sources do).")
    left, right = st.columns(2)
    left.download_button("Download answers (CSV)", study.export_csv(handle), file_name=f"{name}_answers.csv",
                         mime="text/csv", key="download_csv")
    right.download_button("Download design (JSON)", study.export_design(handle), file_name=f"{name}_design.json",
                          mime="application/json", key="download_design")


if __name__ == "__main__":  # run as an st.Page script by app/main.py
    render()
