"""Admin side: study results with the truth revealed, and the study's export. Never call these
for a reader.

Synthetic is the positive class: for a method, the share of its images called synthetic (its
detection rate, the PGSgan user study's "accuracy": lower = more realistic); specificity is the
share of real images called real. Every number comes from `summarize` over answer rows, and
`export_csv` writes exactly those rows, so `summarize(rows_from_csv(export_csv(study)))` gives
the same numbers (a test checks it); `export_design` adds the design (readers, assignment,
display settings).
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from sqlalchemy import select

from app.study import db, stats
from app.study.create import REAL, Study

N_BOOTSTRAP = stats.N_BOOTSTRAP
ANSWERS = ("real", "synthetic")
CSV_COLUMNS = ("reader", "design_row", "position", "case_key", "anatomy", "method", "is_real", "is_practice",
               "source_sample_id", "answer", "confidence", "shown_at", "answered_at", "seconds")


def _answer_rows(connection, study: Study) -> list[dict]:
    rows = connection.execute(
        select(db.reader.c.display_name.label("reader"), db.reader.c.design_row, db.assignment.c.position,
               db.case.c.case_key, db.case.c.anatomy, db.case.c.method, db.case.c.is_real, db.case.c.is_practice,
               db.case.c.source_sample_id, db.answer.c.answer, db.answer.c.confidence,
               db.assignment.c.shown_at, db.answer.c.created.label("answered_at"), db.answer.c.seconds)
        .join(db.reader, db.reader.c.id == db.answer.c.reader_id)
        .join(db.case, db.case.c.id == db.answer.c.case_id)
        .join(db.assignment, (db.assignment.c.reader_id == db.answer.c.reader_id)
              & (db.assignment.c.case_id == db.answer.c.case_id))
        .where(db.case.c.study_id == study.id)
        .order_by(db.reader.c.display_name, db.assignment.c.position)).all()
    return [{**row._mapping, "is_real": bool(row.is_real), "is_practice": bool(row.is_practice)} for row in rows]


def _methods(connection, study: Study) -> list[str]:
    return sorted(m for (m,) in connection.execute(
        select(db.case.c.method).where(db.case.c.study_id == study.id).distinct()) if m != REAL)


def results(study: Study, n_resamples: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Every number of the study's results page (practice answers left out): see `summarize`."""
    with db.engine_for(study.db_url).connect() as connection:
        rows = _answer_rows(connection, study)
        methods = _methods(connection, study)
    return summarize(rows, methods, n_resamples, seed)


def summarize(rows: list[dict], methods: list[str] | None = None, n_resamples: int = N_BOOTSTRAP,
              seed: int = 0) -> dict:
    """Per method: share called synthetic with its two-way bootstrap 95 % interval (readers and
    anatomies resampled independently), exact binomial p against 0.5, AUC against the real cases
    with its interval; specificity; per-reader sensitivity and specificity; pairwise Cohen's and
    Fleiss' kappa; seconds. `rows` are answer rows as `export_csv` writes them."""
    rows = [r for r in rows if not r["is_practice"]]
    methods = sorted({r["method"] for r in rows if not r["is_real"]}) if methods is None else methods
    readers = sorted({r["reader"] for r in rows})
    anatomies = sorted({r["anatomy"] for r in rows})
    reader_index = np.array([readers.index(r["reader"]) for r in rows], int)
    case_index = np.array([anatomies.index(r["anatomy"]) for r in rows], int)
    called_synthetic = np.array([r["answer"] == "synthetic" for r in rows], bool)
    is_real = np.array([r["is_real"] for r in rows], bool)
    method = np.array([r["method"] for r in rows], object)
    scores = np.array([stats.suspicion_score(r["answer"], r["confidence"]) for r in rows], int)
    seconds = np.array([r["seconds"] for r in rows], float)

    def interval(statistic):
        return stats.two_way_bootstrap(reader_index, case_index, statistic, n_resamples, seed)

    per_method = {}
    for name in methods:
        these = method == name
        pair = these | is_real  # the method's cases against the real ones, for its AUC
        n, k = int(these.sum()), int(called_synthetic[these].sum())
        per_method[name] = {
            "n_answers": n,
            "called_synthetic": k / n if n else float("nan"),
            "called_synthetic_ci95": interval(lambda w, m=these: stats.weighted_share(called_synthetic[m], w[m])),
            "binomial_p": stats.binomial_p(k, n),
            "auc": stats.auc(scores[these], scores[is_real]),
            "auc_ci95": interval(lambda w, p=pair, m=these: stats.weighted_auc(scores[p], m[p], w[p])),
            "median_seconds": float(np.median(seconds[these])) if n else float("nan"),
        }
    n_real = int(is_real.sum())
    real_called_real = int((~called_synthetic[is_real]).sum())
    per_reader = {}
    for index, name in enumerate(readers):
        mine = reader_index == index
        synthetic, real = mine & ~is_real, mine & is_real
        per_reader[name] = {
            "n_answers": int(mine.sum()),
            "sensitivity": float(called_synthetic[synthetic].mean()) if synthetic.any() else float("nan"),
            "specificity": float((~called_synthetic[real]).mean()) if real.any() else float("nan"),
            "accuracy": float((called_synthetic[mine] == ~is_real[mine]).mean()) if mine.any() else float("nan"),
        }
    by_reader: dict[str, dict[str, str]] = {}
    by_case: dict[str, list[str]] = {}
    for r in rows:
        by_reader.setdefault(r["reader"], {})[r["case_key"]] = r["answer"]
        by_case.setdefault(r["case_key"], []).append(r["answer"])
    fleiss_rows, fleiss_raters = stats.fleiss_table(by_case, ANSWERS)
    correct = called_synthetic == ~is_real
    return {
        "n_answers": len(rows),
        "n_readers": len(readers),
        "n_anatomies": len(anatomies),
        "methods": per_method,
        "n_real_answers": n_real,
        "specificity": real_called_real / n_real if n_real else float("nan"),
        "specificity_ci95": interval(lambda w: stats.weighted_share(~called_synthetic[is_real], w[is_real])),
        "overall_accuracy": float(correct.mean()) if rows else float("nan"),
        "overall_accuracy_ci95": interval(lambda w: stats.weighted_share(correct, w)),
        "overall_binomial_p": stats.binomial_p(int(correct.sum()), len(rows)),
        "auc": stats.auc(scores[~is_real], scores[is_real]),
        "auc_ci95": interval(lambda w: stats.weighted_auc(scores, ~is_real, w)),
        "readers": per_reader,
        "cohen_kappa": stats.pairwise_cohen(by_reader),
        "fleiss_kappa": stats.fleiss_kappa(fleiss_rows) if fleiss_rows else float("nan"),
        "fleiss_cases": len(fleiss_rows),
        "fleiss_raters": fleiss_raters,
        "median_seconds": float(np.median(seconds)) if rows else float("nan"),
        "bootstrap": {"n_resamples": n_resamples, "seed": seed,
                      "units": "readers and anatomies, resampled independently with replacement"},
    }


def export_csv(study: Study) -> str:
    """One row per answer (practice included, marked), truth revealed, as CSV text."""
    with db.engine_for(study.db_url).connect() as connection:
        rows = _answer_rows(connection, study)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([r["reader"], r["design_row"], r["position"], r["case_key"], r["anatomy"], r["method"],
                         int(r["is_real"]), int(r["is_practice"]), r["source_sample_id"], r["answer"],
                         r["confidence"], _iso(r["shown_at"]), _iso(r["answered_at"]), f"{r['seconds']:.3f}"])
    return out.getvalue()


def rows_from_csv(text: str) -> list[dict]:
    """The answer rows of an `export_csv` file, typed as `summarize` takes them."""
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        rows.append({**r, "design_row": int(r["design_row"]), "position": int(r["position"]),
                     "is_real": r["is_real"] == "1", "is_practice": r["is_practice"] == "1",
                     "confidence": int(r["confidence"]), "seconds": float(r["seconds"])})
    return rows


def export_design(study: Study) -> str:
    """The study's design as JSON: sources, anatomies (the sample id each source has for them),
    display settings, and every reader's Latin-square row and case order (names, no tokens)."""
    with db.engine_for(study.db_url).connect() as connection:
        name, created, settings = connection.execute(
            select(db.study.c.name, db.study.c.created, db.study.c.settings).where(db.study.c.id == study.id)).one()
        assigned = connection.execute(
            select(db.reader.c.display_name, db.reader.c.design_row, db.assignment.c.position, db.case.c.case_key,
                   db.case.c.anatomy, db.case.c.method, db.case.c.is_practice, db.assignment.c.shown_at)
            .join(db.assignment, db.assignment.c.reader_id == db.reader.c.id)
            .join(db.case, db.case.c.id == db.assignment.c.case_id)
            .where(db.reader.c.study_id == study.id)
            .order_by(db.reader.c.id, db.assignment.c.position)).all()
    readers: dict[str, dict] = {}
    for r in assigned:
        reader = readers.setdefault(r.display_name, {"name": r.display_name, "design_row": r.design_row,
                                                     "assignment": []})
        reader["assignment"].append({"position": r.position, "case_key": r.case_key, "anatomy": r.anatomy,
                                     "method": r.method, "practice": bool(r.is_practice),
                                     "shown_at": _iso(r.shown_at)})
    design = {"study": name, "created": _iso(created), "design": "cyclic Latin square: the reader in row r sees the "
              "anatomy of rank k from source (k + r) mod len(sources)", **settings,
              "readers": list(readers.values()), "csv_columns": list(CSV_COLUMNS),
              "statistics": {"bootstrap_resamples": N_BOOTSTRAP, "bootstrap_units": "readers and anatomies",
                             "positive_class": "synthetic", "chance": 0.5}}
    return json.dumps(design, indent=2) + "\n"


def _iso(moment) -> str:
    return moment.isoformat() if moment is not None else ""
