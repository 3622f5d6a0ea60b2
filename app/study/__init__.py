"""Blinded reader study core (no UI): create a study, let readers answer, compute results.

Admin: `create_study`, `add_readers`, `results`, `export_csv`, `export_design`. Reader:
`open_session`, `next_case`, `submit`, `progress`. The reader functions never return method
information; the rules are in ../shared/ARCHITECTURE.md ("Reader study rules").
"""

from app.study.create import Study, add_readers, create_study, open_study
from app.study.reader import Case, ReaderSession, Submitted, UnknownToken, next_case, open_session, progress, submit
from app.study.results import export_csv, export_design, results, rows_from_csv, summarize
from app.study.stats import auc, cohen_kappa, fleiss_kappa, suspicion_score

__all__ = ["Study", "create_study", "open_study", "add_readers", "ReaderSession", "Case", "Submitted", "UnknownToken",
           "open_session", "next_case", "submit", "progress", "results", "summarize", "export_csv", "export_design",
           "rows_from_csv", "auc", "cohen_kappa", "fleiss_kappa", "suspicion_score"]
