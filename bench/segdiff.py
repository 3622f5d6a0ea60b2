"""segdiff (mask-conditioned diffusion) against the GANs and ussim of a demo run, at cpu-demo
scale on real images: realism, sampling steps against seconds, and 50 training images against all.

The sets come from a `make demo` run with the real data (--demo runs/demo): its real training set
per organ (ovary: the normal ovaries of the OTU_2D train split without Doppler, app.demo.sets.OVARY_IMPORT:
the 80 full-sector frames since 2026-12-04, the 205 of every layout before; IVUS: frames
0-15 of the pullback) and its held-out real reference (ovary: the first 10 masks of the validation
split; IVUS: frames 16-23), app.demo.sets. segdiff trains on the same training set with its
cpu-demo preset for the demo's iterations (app.demo.defaults.ITERATIONS) and images the same
held-out masks as the demo's GANs and ussim did, so every row is scored against the same real
images.

DECISION: the held-out frames are the demo's, not bench/realism.py's frames 12-23: the GANs are
then the demo's own sets (trained with two seeds, pooled here) and need no retraining, which a
shared two-core CPU could not afford within one session (a SpeckleGAN run took 15 s per 3-iteration
epoch at load 8). The IVUS split of bench/realism.py would also put frames 12-15, which the demo's
GANs trained on, among the held-out ones.

Rows, each against the demo's held-out real images (bench/realism.Reference: per-class JS,
FID[texture-v1], FRD v1 when pyradiomics is installed, each with its 95 % bootstrap interval over
images; C2ST only with --c2st):
  demo:<method>                the demo run's sets (the GANs' training seeds pooled; sketch models at
                               the training-sketch level, comparable with mask-only methods)
  segdiff:<sampler>-<steps>    segdiff trained on the whole training set, sampled at each step count
  segdiff-50:<sampler>-<steps> (ovary) segdiff trained on the first 50 training images only
Seconds per image: wall, batch 1, --threads torch threads, after one untimed warm-up image.
Segmentation utility (train on synthetic, test on real) is not measured here: `uscompare segment`
pretrains on hundreds of synthetic images per method, beyond a shared two-core CPU's budget.

    nice python bench/segdiff.py --demo runs/demo [--organ ivus|ovary|both] [--threads 1] [--c2st]
                                 [--iterations N --no-sweep --label long]   (a longer training)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import realism
import realism_measures as measures
from machine import describe

from app.demo import models as demo_models
from app.demo.defaults import DEMO
from ganlab import generate, runs, train
from ussim import imageset, importers, tissue
from ussim import probe as probes

# DECISION: the steps swept (the 10 / 25 / 50 / 100) with DPM-Solver++, the cpu-demo
# default sampler, and DDIM (the published sampler) at 25 and 50.
SWEEP = (("dpm++", 10), ("dpm++", 25), ("dpm++", 50), ("dpm++", 100), ("ddim", 25), ("ddim", 50))
SMALL_DATA = 50     # the SpeckleGAN paper's small-data question: 50 training images against all
SMALL_STEPS = ("dpm++", 25)
# The demo's sets compared with segdiff: mask-only methods, and sketch models at the training-sketch level.
DEMO_METHODS = {"ovary": ("ussim", "cgan", "sgan_train-sketch", "pgsgan_train-sketch"),
                "ivus": ("ussim", "specklegan", "speckle-baseline")}


def train_segdiff(train_path: Path, runs_root: Path, seed: int, threads: int, iterations: int) -> tuple[Path, dict]:
    with imageset.read(train_path) as ds:
        n_train = ds.sizes["sample"]
    config = dataclasses.replace(DEMO, iterations={**DEMO.iterations, "segdiff": iterations})
    overrides = {**demo_models.schedule("segdiff", n_train, config, seed), "threads": threads}
    started = time.perf_counter()
    run = train.train("segdiff", train_path, preset=DEMO.gan_preset, overrides=overrides, runs_root=runs_root,
                      progress=False, echo=False)
    seconds = time.perf_counter() - started
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line]
    iterations = runs.iterations_trained(run)
    return run, {"train_images": int(n_train), "iterations": iterations,
                 "train_seconds": round(seconds, 1), "final_loss": stats[-1]["loss"]}


def demo_images(sets: Path, organ: str, method: str):
    """The demo's images of one method, its training seeds pooled (ussim: one set)."""
    paths = sorted(sets.glob(f"{organ}_{method}.h5")) or sorted(sets.glob(f"{organ}_{method}_seed*.h5"))
    if not paths:
        return None
    images, labels, seconds = [], [], []
    for path in paths:
        with imageset.read(path) as ds:
            images.append(ds["image"].values)
            labels.append(ds["label"].values)
            seconds.append(ds["seconds"].values)
    return np.concatenate(images), np.concatenate(labels), np.concatenate(seconds), len(paths)


def run_organ(organ: str, args, with_frd: bool) -> dict:
    # The field of view and beam origin of the organ's real archive, as bench/realism.py's demo rows take them.
    archive, options = realism.IMPORTS[organ]
    real = importers.import_npz(importers.real_data_dir() / archive, progress=False, **options)
    table = tissue.load(organ)
    grid = realism.grid_of(real, table)
    splits = measures.split_frames(real.sizes["sample"], 12)
    fov, _ = realism.field_of_view(real["image"].values[np.r_[splits["tuning"], splits["held_out"]]], grid, table)
    origin = measures.beam_origin_px(organ, grid, probes.load(table.probe))
    train_path, reference_path = args.demo / "data" / f"{organ}_train.h5", args.demo / "data" / f"{organ}_reference.h5"
    with imageset.read(reference_path) as ds:
        ref = ds.load()
    names = imageset.class_names_of(ref)
    reference = realism.Reference(f"demo reference ({reference_path})", ref["image"].values, ref["label"].values,
                                  names, fov, origin, args.seed, with_frd)
    print(f"{organ}: reference {reference_path} ({ref.sizes['sample']} images)", flush=True)
    rows = []
    for method in DEMO_METHODS[organ]:
        found = demo_images(args.demo / "sets", organ, method)
        if found is None:
            print(f"  demo:{method} skipped: no set in {args.demo / 'sets'}", flush=True)
            continue
        images, labels, seconds, n_sets = found
        rows.append({**reference.against(f"demo:{method}", images, labels, seconds), "sets_pooled": n_sets})
    out = args.out / f"segdiff_{organ}{'_' + args.label if args.label else ''}"
    runs_root = out / "runs"
    run, trained = train_segdiff(train_path, runs_root, args.seed, args.threads, args.iterations)
    print(f"  segdiff: {trained}", flush=True)
    for sampler, steps in (SWEEP if not args.no_sweep else (SMALL_STEPS,)):
        ds = generate.generate_set(generate.load(run, sampler=sampler, steps=steps), reference_path, seed=0,
                                   progress=False)
        rows.append({**reference.against(f"segdiff{args.tag}:{sampler}-{steps}", ds["image"].values, ds["label"].values,
                                         ds["seconds"].values), **trained, "sampler": sampler, "steps": steps})
        if (sampler, steps) == SMALL_STEPS:
            imageset.write(ds, out / "segdiff_all.h5", overwrite=True)
    with imageset.read(train_path) as ds:
        n_train = ds.sizes["sample"]
        small = imageset.select(ds, index=np.arange(SMALL_DATA)).load() if n_train > SMALL_DATA else None
    if small is not None and not args.no_sweep:
        small_path = imageset.write(small, out / "train_50.h5", overwrite=True)
        run, trained = train_segdiff(small_path, runs_root, args.seed, args.threads, args.iterations)
        sampler, steps = SMALL_STEPS
        ds = generate.generate_set(generate.load(run, sampler=sampler, steps=steps), reference_path, seed=0,
                                   progress=False)
        rows.append({**reference.against(f"segdiff-{SMALL_DATA}:{sampler}-{steps}", ds["image"].values,
                                         ds["label"].values, ds["seconds"].values), **trained,
                     "sampler": sampler, "steps": steps})
    return {"organ": organ, "classes": names, "reference": str(reference_path), "rows": rows}


def markdown(report: dict) -> str:
    lines = [f"segdiff benchmark, {report['date']}, `{report['command']}` ({report['minutes']} min)", "",
             f"Machine: {report['machine']}; torch threads {report['threads']}", ""]
    for result in report["results"]:
        names = result["classes"]
        lines += [f"#### {result['organ']}: against {result['reference']}", "",
                  "| set | training: images x iterations (s) | " + " | ".join(f"JS {n}" for n in names)
                  + " | FID[texture-v1] | FRD v1 | C2ST accuracy | s / image |",
                  "|" + " --- |" * (6 + len(names))]
        for row in result["rows"]:
            c2st = row["c2st"]
            trained = (f"{row['train_images']} x {row['iterations']} ({row['train_seconds']:.0f} s)"
                       if "iterations" in row else f"demo ({row['sets_pooled']} set(s))")
            seconds = f"{row['seconds_per_image']:.3g}" if "seconds_per_image" in row else "–"
            accuracy = "–" if not np.isfinite(c2st["accuracy"]) else \
                f"{c2st['accuracy']:.3f} [{c2st['low']:.3f}, {c2st['high']:.3f}]"
            lines.append(f"| {row['set']} | {trained} | " + " | ".join(realism.interval(row["js"][n]) for n in names)
                         + f" | {realism.interval(row['fid_texture_v1'], 4)}"
                         f" | {realism.interval(row.get('frd_v1', {}), 2)}"
                         f" | {accuracy} | {seconds} |")
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=Path, required=True, help="a `make demo` run folder made with the real data")
    parser.add_argument("--organ", choices=("ivus", "ovary", "both"), default="both")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (training and sampling)")
    parser.add_argument("--seed", type=int, default=0, help="training seed; seeds the bootstraps")
    parser.add_argument("--c2st", action="store_true", help="also the classifier two-sample test (about 12 s a row)")
    parser.add_argument("--iterations", type=int, default=DEMO.iterations["segdiff"],
                        help="segdiff's training iterations (default: the demo's)")
    parser.add_argument("--no-sweep", action="store_true",
                        help="sample at 25 DPM-Solver++ steps only, and skip the 50-image run")
    parser.add_argument("--label", default="", help="suffix of the output files and of the segdiff rows' names")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    args.tag = f"[{args.label}]" if args.label else ""
    if importers.real_data_dir() is None:
        raise SystemExit("real archives absent: ../shared/data/real (or $USSIM_REAL_DATA) not found; "
                         "nothing to measure")
    if not (args.demo / "data").is_dir():
        raise SystemExit(f"--demo {args.demo}: no data/ folder (run `make demo` with the real data first)")
    from compare.metrics import frd

    if not args.c2st:
        nan = float("nan")
        measures.classifier_test = lambda *a, **k: {"accuracy": nan, "low": nan, "high": nan}
        realism.measures.classifier_test = measures.classifier_test
    torch.set_num_threads(args.threads)
    with_frd = frd.available()
    args.out.mkdir(parents=True, exist_ok=True)
    organs = ["ivus", "ovary"] if args.organ == "both" else [args.organ]
    command = "python bench/segdiff.py " + " ".join(sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    print(f"{describe()}\n{started:%Y-%m-%d %H:%M} UTC: {command}; expected about 15 min on 2 free cores"
          f"{'' if with_frd else '; FRD left out (pyradiomics absent)'}", flush=True)
    report = {"machine": describe(), "date": f"{started:%Y-%m-%d %H:%M} UTC", "command": command,
              "threads": args.threads, "results": []}
    for organ in organs:
        report["results"].append(run_organ(organ, args, with_frd))
        report["minutes"] = round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60, 1)
        name = f"segdiff{'_' + args.label if args.label else ''}"
        (args.out / f"{name}.json").write_text(json.dumps(report, indent=1, default=float))
        (args.out / f"{name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
