"""`make demo`: the whole comparison on embedded defaults, from image sets to the dashboard.

It lives in `app` because it is the one package that may use all the others (ussim, ganlab,
compare and the reader study). Run it as `python -m app.demo`; the job itself is
app.demo.pipeline.run_demo.

DECISION: this file imports nothing. The demo's trainings, comparisons and segmentation runs
each start in a spawned process that imports only the module of its job (app.demo.models, ...);
a package that imported the pipeline here made each of them import every package of the
toolkit first (7 s a process, a dozen processes a demo).
"""
