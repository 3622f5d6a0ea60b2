"""Admin side: study results with the truth revealed. Never call these for a reader.

Synthetic is the positive class: accuracy on a method is the share of its images called
synthetic (sensitivity), specificity the share of real images called real.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
from scipy.stats import mannwhitneyu
from sqlalchemy import select

from app.study import db
from app.study.create import REAL, Study

N_BOOTSTRAP = 2000


def suspicion_score(answer: str, confidence: int) -> int:
    """10-level score: 1 = sure real ... 5 = unsure real, 6 = unsure synthetic ... 10 = sure synthetic."""
    return 5 + confidence if answer == "synthetic" else 6 - confidence


def bootstrap_ci(correct: Sequence[bool], n_resamples: int = N_BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of the mean of `correct`, resampling answers with replacement."""
    values = np.asarray(correct, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, (n_resamples, values.size))].mean(axis=1)
    return (float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


def auc(positive_scores: Sequence[float], negative_scores: Sequence[float]) -> float:
    """Area under the ROC curve = P(positive scores higher) + P(tie)/2, via Mann-Whitney U."""
    if len(positive_scores) == 0 or len(negative_scores) == 0:
        return float("nan")
    u = mannwhitneyu(positive_scores, negative_scores, alternative="two-sided").statistic
    return float(u) / (len(positive_scores) * len(negative_scores))


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa of a subjects x categories table of rating counts (same raters per subject)."""
    table = np.asarray(counts, dtype=float)
    n_raters = table.sum(axis=1)
    if table.shape[0] == 0 or n_raters[0] < 2 or not np.all(n_raters == n_raters[0]):
        return float("nan")
    n = n_raters[0]
    agreement = ((table ** 2).sum(axis=1) - n) / (n * (n - 1))
    category_share = table.sum(axis=0) / table.sum()
    expected = float((category_share ** 2).sum())
    if expected == 1.0:  # every rating in one category: kappa is undefined
        return float("nan")
    return (float(agreement.mean()) - expected) / (1 - expected)


def _answer_rows(connection, study: Study):
    return connection.execute(
        select(db.reader.c.display_name.label("reader"), db.assignment.c.position, db.case.c.case_key,
               db.case.c.method, db.case.c.is_real, db.case.c.is_practice, db.case.c.source_sample_id,
               db.answer.c.answer, db.answer.c.confidence, db.answer.c.seconds, db.answer.c.created,
               db.answer.c.reader_id, db.answer.c.case_id)
        .join(db.reader, db.reader.c.id == db.answer.c.reader_id)
        .join(db.case, db.case.c.id == db.answer.c.case_id)
        .join(db.assignment, (db.assignment.c.reader_id == db.answer.c.reader_id)
              & (db.assignment.c.case_id == db.answer.c.case_id))
        .where(db.case.c.study_id == study.id)
        .order_by(db.reader.c.display_name, db.assignment.c.position)).all()


def results(study: Study, n_resamples: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Per-method accuracy with bootstrap CI and AUC, specificity, Fleiss kappa, times.

    Practice answers are left out of every number.
    """
    with db.engine_for(study.db_url).connect() as connection:
        rows = [r for r in _answer_rows(connection, study) if not r.is_practice]
        methods = sorted(m for (m,) in connection.execute(
            select(db.case.c.method).where(db.case.c.study_id == study.id).distinct()) if m != REAL)
    real_rows = [r for r in rows if r.is_real]
    real_scores = [suspicion_score(r.answer, r.confidence) for r in real_rows]
    real_correct = [r.answer == "real" for r in real_rows]
    per_method = {}
    for method in methods:
        these = [r for r in rows if r.method == method]
        correct = [r.answer == "synthetic" for r in these]
        per_method[method] = {
            "n_answers": len(these),
            "accuracy": float(np.mean(correct)) if these else float("nan"),
            "accuracy_ci95": bootstrap_ci(correct, n_resamples, seed),
            "auc": auc([suspicion_score(r.answer, r.confidence) for r in these], real_scores),
            "median_seconds": float(np.median([r.seconds for r in these])) if these else float("nan"),
        }
    synthetic_scores = [suspicion_score(r.answer, r.confidence) for r in rows if not r.is_real]
    return {
        "n_answers": len(rows),
        "n_readers": len({r.reader_id for r in rows}),
        "methods": per_method,
        "specificity": float(np.mean(real_correct)) if real_rows else float("nan"),
        "specificity_ci95": bootstrap_ci(real_correct, n_resamples, seed),
        "overall_accuracy": float(np.mean([(r.answer == "real") == r.is_real for r in rows])) if rows else float("nan"),
        "auc": auc(synthetic_scores, real_scores),
        "fleiss_kappa": _study_kappa(rows),
        "median_seconds": float(np.median([r.seconds for r in rows])) if rows else float("nan"),
    }


def _study_kappa(rows) -> float:
    # DECISION: the raters are the readers with at least one scored answer, and only cases
    # every one of them answered count, so that each case has the same number of ratings.
    readers = {r.reader_id for r in rows}
    by_case: dict[int, list[str]] = {}
    for r in rows:
        by_case.setdefault(r.case_id, []).append(r.answer)
    table = [[answers.count("real"), answers.count("synthetic")]
             for answers in by_case.values() if len(answers) == len(readers)]
    return fleiss_kappa(table) if len(readers) >= 2 and table else float("nan")


CSV_COLUMNS = ("reader", "position", "case_key", "method", "is_real", "is_practice", "source_sample_id",
               "answer", "confidence", "seconds", "created")


def export_csv(study: Study) -> str:
    """One row per answer, truth revealed, as CSV text (admin download)."""
    with db.engine_for(study.db_url).connect() as connection:
        rows = _answer_rows(connection, study)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow([r.reader, r.position, r.case_key, r.method, int(r.is_real), int(r.is_practice),
                         r.source_sample_id, r.answer, r.confidence, f"{r.seconds:.3f}",
                         r.created.isoformat() if r.created else ""])
    return out.getvalue()
