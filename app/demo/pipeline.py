"""The main job behind `make demo`: a full simulation-versus-GAN comparison on embedded defaults.

Reads top to bottom, one stage after another, each announced with its number and timed:
  1. image sets   per organ a training set and a held-out reference (real when ../shared/data/real
                  is present, else simulated random anatomies)
  2. simulator    ussim images the reference masks
  3. GANs         every ganlab model trains on its organ's training set and generates an image for
                  every reference mask
  4. metrics      `uscompare run` per organ, both comparisons in runs/demo/results.nc
  5. segmentation the segmentation utility of every method (app/demo/segmentation.py): a U-Net on
                  each method's images of the training masks, both protocols, into results.nc
  6. report       runs/demo/report.html (and report.md)
  7. study        a ready-made blinded reader study per organ in runs/demo/study.db
and ends by printing the one command that opens the dashboard on all of it. Everything it used
is in runs/demo/demo.json; defaults in compare/demo/defaults.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import secrets
import shutil
import sys
import time
import warnings
from pathlib import Path

from app.study import add_readers, create_study
from compare import results, runner
from compare.defaults import Settings
from app.demo import models, segmentation, speed, summary
from app.demo.defaults import DEMO, ORGAN_MODELS, DemoConfig
from app.demo.sets import OrganSets, prepare
from compare.report.document import write_report
from ussim import importers

STAGES = 7
ADMIN_PASSWORD_FILE = "admin-password.txt"
NO_REAL = ("No real images were found (../shared/data/real or $USSIM_REAL_DATA): every reference set is "
           "simulated by ussim and the GANs trained on simulated images, so these numbers say how close each "
           "GAN comes to the simulator, not to real ultrasound. The reference is made by ussim's fast engine; "
           "the ussim rows image the same masks by the same engine with new scatterer seeds: the floor any "
           "method can reach at this set size.")
DEMO_SCALE = ("Demo scale: GANs trained for a few hundred iterations on a CPU, about ten held-out masks per "
              "organ, weights-free texture-v1 features. A worked example of the method, not numbers to cite.")


def run_demo(out_dir: Path = Path("runs/demo"), config: DemoConfig = DEMO, progress: bool = True) -> dict:
    """Run every stage into `out_dir`; returns the record also written to demo.json."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir, sets_dir, runs_root = out_dir / "data", out_dir / "sets", out_dir / "gan-runs"
    # A rerun starts over: earlier GAN runs would otherwise pile up beside the new ones.
    shutil.rmtree(runs_root, ignore_errors=True)
    for folder in (data_dir, sets_dir, runs_root):
        folder.mkdir(exist_ok=True)
    real_dir = importers.real_data_dir()
    record = {"created_utc": _now(), "config": config.as_dict(), "real_data": str(real_dir) if real_dir else None,
              "machine": machine(), "stages": {}, "organs": {}}
    record["workload_seconds"] = round(speed.workload_seconds(), 3)
    if config.expected_minutes:
        kind = "real" if real_dir else "simulated"
        measured = config.expected_minutes[kind]
        reference = (config.workload_reference_seconds or {}).get(kind)
        minutes = speed.expected_minutes(measured, reference, record["workload_seconds"])
        measured_on = (config.expected_measured or {}).get(kind, "")
        scaling = (f"scaled by a {record['workload_seconds']:.2f} s workload that took {reference:.2f} s there"
                   if reference else "not scaled to this machine: machines differ, by up to 5 x")
        print(f"Expected duration on this machine: about {minutes:.0f} minutes ({measured:g} minutes measured on a "
              f"2-core CPU without GPU {'with' if real_dir else 'without'} real data, {measured_on}; "
              f"{scaling}).", flush=True)
    timer = Stages(record["stages"])

    with timer(1, "image sets: " + (f"real images from {real_dir}" if real_dir else "no real images, simulating")):
        organ_sets = {organ: prepare(organ, data_dir, config, real_dir, progress) for organ in ORGAN_MODELS}
        for sets in organ_sets.values():
            print(f"    {sets.description}")
            record["organs"][sets.organ] = {"description": sets.description, "real": sets.real,
                                            "train": str(sets.train), "reference": str(sets.reference),
                                            "methods": {}}
    method_sets = {organ: {} for organ in ORGAN_MODELS}
    with timer(2, "simulator: ussim images every held-out mask"):
        for organ, sets in organ_sets.items():
            method_sets[organ][models.SIMULATOR] = models.simulate(sets, sets_dir, config, progress)
    n_models = sum(len(m) for m in ORGAN_MODELS.values())
    seeds = config.training_seeds
    with timer(3, f"GANs: {n_models} models x {len(seeds)} training seeds train ({config.gan_preset} preset, demo "
                  f"iterations, {config.training_workers} at a time) and generate"):
        jobs = [(model, organ_sets[organ], seed) for organ, names in ORGAN_MODELS.items() for model in names
                for seed in seeds]

        def trained_line(index: int, trained: dict) -> None:
            model, sets, seed = jobs[index]
            print(f"    {model} on {sets.organ}, seed {seed}: {trained['iterations']} iterations in "
                  f"{trained['epochs']} epochs, {trained['train_seconds']:.0f} s; run {trained['run']}", flush=True)

        for (model, sets, seed), trained in zip(jobs, models.train_all(jobs, runs_root, config, progress,
                                                                       trained_line)):
            paths = models.generate_sets(model, trained["run"], sets, sets_dir, config, seed, progress)
            for name, path in paths.items():
                method_sets[sets.organ].setdefault(name, []).append(path)
            record["organs"][sets.organ]["methods"].setdefault(model, []).append(trained)
    results_path = out_dir / "results.nc"
    with timer(4, f"metrics: every method against each organ's reference ({config.backbone} features)"):
        comparisons, noted = compare_organs(organ_sets, method_sets, config, progress)
        print(f"    {noted} notes on metrics left NaN or adapted to these set sizes: listed in the report")
        notice = DEMO_SCALE if all(s.real for s in organ_sets.values()) else f"{NO_REAL} {DEMO_SCALE}"
        results.write_comparisons(comparisons, results_path, overwrite=True, attrs={"notice": notice})
    with timer(5, "segmentation utility: a U-Net on every method's images of the training masks (ussim: fast "
                  "engine), both protocols"):
        found, record["segmentation"] = segmentation.run_stage(
            organ_sets, {organ: record["organs"][organ]["methods"] for organ in ORGAN_MODELS}, sets_dir, config,
            progress)
        comparisons = {organ: segmentation.merged(ds, found[organ]) for organ, ds in comparisons.items()}
        results.write_comparisons(comparisons, results_path, overwrite=True, attrs={"notice": notice})
    report_path = out_dir / "report.html"
    with timer(6, "report"):
        write_report(results_path, report_path, overwrite=True)
    db_path, password_path = out_dir / "study.db", out_dir / ADMIN_PASSWORD_FILE
    with timer(7, "reader study: real and synthetic images, blinded, per organ"):
        record["study"] = make_studies(db_path, organ_sets, method_sets, config, out_dir / "readers.txt",
                                       password_path)

    record["seconds"] = round(time.perf_counter() - started, 1)
    record.update(results=str(results_path), report=str(report_path), study_db=str(db_path))
    _write_json(out_dir / "demo.json", record)
    table = summary.markdown(out_dir)
    _write_text(out_dir / "summary.md", table)
    print(f"\n{table}\nDone in {record['seconds'] / 60:.1f} min. Report: {report_path} (this table: "
          f"{out_dir / 'summary.md'})")
    print(f"Reader links for the blinded study: {out_dir / 'readers.txt'}")
    print(f"Admin password (comparison, study admin and results pages; readers never need it): {password_path} "
          "(readable by you only)")
    print("Open the dashboard (comparison, phantom editor, reader study) with:\n")
    print(f"    {dashboard_command(db_path, results_path, password_path)}\n")
    return record


def compare_organs(organ_sets: dict[str, OrganSets], method_sets: dict, config: DemoConfig,
                   progress: bool) -> tuple[dict, int]:
    """Every organ's comparison, and how many warnings (metric notes) they gave.

    DECISION: the organs side by side (config.training_workers at a time, as the trainings): the
    first in this process with its progress bars, the others each in a spawned process. Much of a
    comparison is single-threaded (the bootstrap: 1000 resamples at about 30 a second an organ),
    so one after the other left a core idle for about a minute (metrics 185 s without real data,
    2026-12-02; bench/RESULTS.md, "`make demo`"). Each comparison is seeded, so its numbers do not
    depend on what runs beside it."""
    organs = list(ORGAN_MODELS)
    workers = max(1, min(config.training_workers, len(organs), os.cpu_count() or 1))
    jobs = {organ: (organ_sets[organ], method_sets[organ], config) for organ in organs}
    found: dict = {}
    if workers == 1:
        found = {organ: _compare_job(*job, progress=progress) for organ, job in jobs.items()}
    else:
        # spawn: a fresh interpreter (forking a process that holds torch's thread pool can deadlock)
        with concurrent.futures.ProcessPoolExecutor(workers - 1, mp_context=multiprocessing.get_context("spawn")) \
                as pool:
            futures = {organ: pool.submit(_compare_in_worker, *jobs[organ]) for organ in organs[1:]}
            found[organs[0]] = _compare_job(*jobs[organs[0]], progress=progress)
            for organ, future in futures.items():
                found[organ] = future.result()
    return {organ: found[organ][0] for organ in organs}, sum(found[organ][1] for organ in organs)


def _compare_job(sets: OrganSets, methods: dict, config: DemoConfig, *, progress: bool):
    """One organ's comparison and the number of warnings it gave (the runner warns for every metric
    these small sets cannot give; the report lists them all)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        comparison = compare_organ(sets, methods, config, progress)
    return comparison, len(caught)


def _compare_in_worker(sets: OrganSets, methods: dict, config: DemoConfig):
    """`_compare_job` in a spawned process, without progress bars; its radiomics pool closed before it
    returns (compare.radiomics.shutdown: else the process hangs on exit)."""
    from compare import radiomics
    try:
        return _compare_job(sets, methods, config, progress=False)
    finally:
        radiomics.shutdown()


def compare_organ(sets: OrganSets, methods: dict[str, Path | list[Path]], config: DemoConfig, progress: bool):
    """One organ's comparison; a method given as a list has one image set per training seed. What each
    method saw (mask, or the sketch of the reference or of a training image) comes from its sets."""
    reference_name = "real" if sets.real else "simulated"
    settings = Settings(backbone=config.backbone, bootstrap_resamples=config.bootstrap, frd=config.frd)
    ds = runner.run(sets.reference, list(methods.items()), settings,
                    reference_name=reference_name, download=False, progress=progress)
    ds.attrs["title"] = f"{sets.organ.upper() if sets.organ == 'ivus' else sets.organ.capitalize()}: " \
                        f"{sets.description.split(': ', 1)[1]}"
    return ds


def make_studies(db_path: Path, organ_sets: dict[str, OrganSets], method_sets: dict, config: DemoConfig,
                 tokens_path: Path, password_path: Path) -> dict:
    """One study per organ (the reference images as the real cases), the same readers in each, by
    the reader-study rules: each reader sees each held-out anatomy once, the source shown for it
    rotating across readers (Latin square), every image cut to the organ's fitted field of view
    and encoded to one byte length. Writes the reader links and a new admin password, both
    readable by the owner only."""
    db_path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db_path.resolve()}"
    lines, studies = [], {}
    for organ, sets in organ_sets.items():
        # DECISION: with no real images the study's "real" cases are the simulated reference: the
        # study then shows how the trial runs, and its name says so.
        name = f"demo-{organ}" if sets.real else f"demo-{organ}-simulated-reference"
        # DECISION: a method's first training seed stands for it in the study (readers judge images, not seeds).
        first_seed = {method: paths[0] if isinstance(paths, list) else paths
                      for method, paths in method_sets[organ].items()}
        study = create_study(url, name, first_seed, sets.reference, config.study_cases[organ],
                             practice_cases=config.study_practice, seed=config.seed, field_of_view="organ")
        tokens = add_readers(study, list(config.readers))
        n_sources = len(method_sets[organ]) + 1
        studies[name] = {"methods": sorted(method_sets[organ]), "cases_per_reader": config.study_cases[organ],
                         "practice_cases": config.study_practice, "readers": list(tokens),
                         "design": f"Latin square over {n_sources} sources (real + methods)"}
        lines += [f"{name}  {reader}  http://localhost:8501/?token={token}" for reader, token in tokens.items()]
        print(f"    study {name}: {config.study_cases[organ]} scored anatomies per reader, each from one of "
              f"{n_sources} sources (rotating across readers), readers {', '.join(tokens)}")
    # The tokens exist only here (the database keeps their hashes): readable by the owner only.
    _write_text(tokens_path, "# study  reader  link (the dashboard must be running)\n" + "\n".join(lines) + "\n",
                mode=0o600)
    # DECISION: a fresh random admin password per demo, in a file readable by the owner only: the
    # dashboard never opens its admin pages (truth per case, method names) without one.
    _write_text(password_path, secrets.token_urlsafe(18) + "\n", mode=0o600)
    return studies


def dashboard_command(db_path: Path, results_path: Path, password_path: Path) -> str:
    def shown(path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(Path.cwd()))
        return str(path.resolve())

    # The dashboard's script beside this interpreter (.venv/bin/usapp after `make demo`, which does not
    # activate the environment), else the one on PATH.
    usapp = Path(sys.executable).with_name("usapp")
    program = shown(usapp) if usapp.exists() else "usapp"
    return (f"{program} --db sqlite:///{shown(db_path)} --results {shown(results_path)} "
            f"--admin-password-file {shown(password_path)}")


class Stages:
    """`with stages(k, title):` announces stage k, times it and records its seconds."""

    def __init__(self, record: dict):
        self.record = record

    @contextlib.contextmanager
    def __call__(self, number: int, title: str):
        print(f"\n[{number}/{STAGES}] {title}", flush=True)
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self.record[title.split(":")[0]] = round(seconds, 1)
        print(f"    done in {seconds:.0f} s", flush=True)


def machine() -> dict:
    processor = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):  # Linux names the CPU model only here
        with open("/proc/cpuinfo") as handle:
            processor = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    import torch

    return {"platform": platform.platform(), "processor": processor, "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _write_json(path: Path, record: dict) -> None:
    _write_text(path, json.dumps(record, indent=2, default=str) + "\n")


def _write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Atomically: a temporary file with its final mode, then renamed."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    # Created with its mode, so a secret is never readable by others, not even for a moment.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as handle:
        handle.write(text)
    tmp.chmod(mode)  # the umask may have narrowed it
    os.replace(tmp, path)
