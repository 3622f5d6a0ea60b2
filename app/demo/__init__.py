"""`make demo`: the whole comparison on embedded defaults, from image sets to the dashboard.

It lives in `app` because it is the one package that may use all the others (ussim, ganlab,
compare and the reader study). Run it as `python -m app.demo`.
"""

from app.demo.pipeline import run_demo

__all__ = ["run_demo"]
