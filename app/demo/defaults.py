"""Every default of `make demo` in one table: what each organ's comparison holds, how long each
model trains, and the tiny configuration the test of the whole pipeline runs.

The demo has to finish within 20 minutes on a two-core machine with no GPU, installation
included, so its numbers are a worked example of the method and not results to cite: the GANs
train for a few hundred iterations, the held-out sets hold a dozen masks, and the feature metrics
use the weights-free texture backbone. `uscompare run` and `ganlab train --preset paper` give the
numbers to report.
"""

from __future__ import annotations

import dataclasses
import json

# DECISION: each model is trained on the organ of the paper it follows: cGAN, Sgan and PGSgan on
# ovary images (the PGSgan paper), SpeckleGAN and its baseline on IVUS (the SpeckleGAN paper).
# Training every model on both organs would double the demo's longest stage.
# DECISION: segdiff (mask-conditioned diffusion, the third family) trains on both organs: it follows
# no paper of either organ, and the comparison of families is the demo's question.
ORGAN_MODELS = {"ovary": ("cgan", "sgan", "pgsgan", "segdiff"), "ivus": ("specklegan", "speckle-baseline", "segdiff")}

# DECISION: a model trains for a number of iterations, not epochs, so that a run on 80 or 205 real
# ovaries and one on 16 simulated ones cost about the same time. Measured per iteration (batch 4, two
# threads, idle 2-core EPYC): cgan 0.48 s, sgan 0.37 s, pgsgan 0.11-0.4 s, specklegan 0.31 s,
# speckle-baseline 0.22 s; the whole training stage took 6 to 6.5 min (2026-11-22, with the
# per-epoch sample grids and checkpoints). DECISION: 80 % of the iterations of 2026-11-22, since
# every model now trains with two seeds: with the former counts the stage took 10.5 min with real
# data (2026-12-01) and the demo without real data would pass 20 minutes.
# DECISION: segdiff trains 360 iterations (cpu-demo preset: 32 px, v-prediction), the fewest at which
# its measures stopped improving (bench/RESULTS.md, "segdiff", "cpu-demo recipe", 2026-12-02): the
# ovary's mean gray outside the real fan (real 0) was 20 after 120 iterations, 14 after 240, 12
# after 360 and 480, 10 after 720, and no per-class JS changed beyond its interval from 240 on.
# Measured with bench/segdiff_recipe.py, two trainings at a time on one torch thread each (as the
# demo), exactly 360 iterations: 17-18 s a seed on the 205 ovaries and 26 s on the 16 IVUS frames
# (90 epochs, each with a sample grid and a checkpoint) at load ~1; 40-42 s and 59 s at load 3
# from other sessions (the former recipe: 13 s and 21 s for 120 iterations at load ~1).
SEGDIFF_ITERATIONS = 360
ITERATIONS = {"cgan": 160, "sgan": 160, "pgsgan": 240, "specklegan": 200, "speckle-baseline": 200,
              "segdiff": SEGDIFF_ITERATIONS}
# Seconds an iteration of each model, two trainings at a time on one torch thread each, idle 2-core
# EPYC (the demo without real data, 2026-12-02 09:55-10:06 UTC: cgan 143 s for 160 iterations, sgan
# 137-141, pgsgan 84-87 for 240, specklegan 130-136 and its baseline 89-90 for 200, segdiff 14-19
# for 360; with the real sets at 06:29: cgan 150 s, specklegan 120-128, the baseline 70-72). Only
# the GAN stage's progress line uses them, to weigh each iteration by its cost, so that its share
# done and time left mean something from the first minute (a model missing here counts 1 s).
SECONDS_PER_ITERATION = {"cgan": 0.89, "sgan": 0.87, "pgsgan": 0.36, "specklegan": 0.67, "speckle-baseline": 0.45,
                         "segdiff": 0.045}


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    # Held-out masks per organ: every method images them, the reference shows them.
    # DECISION: 10 ovary masks (the first of the real validation split) and 8 IVUS frames (the
    # last third of the real pullback, contiguous so that no neighbour of a training frame is
    # held out). At about 10 s per simulated ovary image on two cores more would not fit the
    # 20-minute budget of a machine without real data, which simulates its training images too
    # (measured: 16.3 min with 12 held-out and 24 training ovaries, 2026-11-22).
    held_out: dict = dataclasses.field(default_factory=lambda: {"ovary": 10, "ivus": 8})
    # Simulated training images per organ when there are no real ones (random anatomies).
    # DECISION: 16 ovary and 16 IVUS anatomies (as many as the real pullback's 16 training frames).
    # Fewer ovaries cost more than they save: with 8, a model runs 100 two-iteration epochs, each
    # with its sample grid and checkpoint (cgan 84 s a seed against 61 s on the real set, 2026-12-01).
    simulated_train: dict = dataclasses.field(default_factory=lambda: {"ovary": 16, "ivus": 16})
    # At most this many real training images per organ (None: all of them).
    real_train_limit: dict = dataclasses.field(default_factory=lambda: {"ovary": None, "ivus": None})
    # Random anatomies are drawn at this size (the real archives are 256 x 256 too).
    image_size: int = 256
    scatterers_per_cell: float = 10.0          # ussim's default: fully developed speckle
    iterations: dict = dataclasses.field(default_factory=lambda: dict(ITERATIONS))
    seconds_per_iteration: dict = dataclasses.field(default_factory=lambda: dict(SECONDS_PER_ITERATION))
    # DECISION: every GAN trains with two seeds (the fewest that show training noise; each seed costs
    # a full training), and the comparison gives each its mean and an interval over seeds and images.
    training_seeds: tuple = (0, 1)
    # Trainings run at a time, each in its own process on one torch thread (app.demo.models.train_all):
    # the two cores of the machine the demo is sized for.
    training_workers: int = 2
    # Sample grids and checkpoints per training run (ganlab's snap_epochs), the last epoch's included.
    # DECISION: 5: a grid every epoch cost the IVUS models (16 frames, 4 iterations an epoch) a quarter
    # to a third of their training time (SpeckleGAN 52 of 204 s, 2026-12-02); five grids still show
    # how the run learned.
    snapshots_per_run: int = 5
    gan_preset: str = "cpu-demo"
    # Applied to every model that has the setting (the test's tiny nets; a GAN's widths do not apply to segdiff).
    gan_overrides: dict = dataclasses.field(default_factory=dict)
    # DECISION: texture-v1, the weights-free backbone: Inception weights cannot be downloaded on
    # every machine, and a dozen images per set give no meaningful Inception FID anyway. The
    # report labels every feature metric with its backbone.
    backbone: str = "texture-v1"
    # Bootstrap resamples behind every interval of the comparison (compare.defaults' 1000 for the demo).
    bootstrap: int = 1000
    # FRD v1 (compare.defaults.Settings.frd): "auto" computes it where pyradiomics and frd-score are
    # installed (`make demo` installs them) and notes in the report where they are not; "off" leaves
    # it out (the tiny real-data test's: pyradiomics was half of its metrics stage).
    frd: str = "auto"
    # Reader study: scored cases per reader (one per held-out anatomy; app.study.create), practice
    # cases (more anatomies), readers. DECISION: as many scored cases as sources (real + methods: ovary
    # 8, IVUS 5, segdiff included), so each reader sees every source exactly once, plus 2 practice
    # anatomies: all 10 ovary and 7 of the 8 IVUS held-out masks. Three readers, as the README's study
    # of three doctors; a full Latin square takes 8 (ovary) or 5 (IVUS) readers.
    study_cases: dict = dataclasses.field(default_factory=lambda: {"ovary": 8, "ivus": 5})
    study_practice: int = 2
    readers: tuple = ("reader-1", "reader-2", "reader-3")
    seed: int = 0
    # What the demo prints as its expected duration (minutes, 2-core AMD EPYC, no GPU), measured with
    # `time make demo`; none for configurations that were not timed.
    expected_minutes: dict | None = None
    expected_measured: dict | None = None    # the date of each of those runs
    # app.demo.speed's workload seconds at the start of each timed run ("real", "simulated"; demo.json
    # records each run's): the printed duration scales by this machine's seconds against these.
    workload_reference_seconds: dict | None = None
    # Seeds of the second simulation of the reference masks when the reference itself is simulated.
    resimulation_seed: int = 1_000_000
    # Segmentation utility (app/demo/segmentation.py, issue 16): every method images this many
    # training masks (ussim by its fast engine), a U-Net is pretrained on them and fine-tuned on
    # segmentation_n_real real training images, against one trained on those alone; held-out test.
    # DECISION: 16 masks, 8 real images, 2 seeds and a small U-Net (64 px, widths 8-32, 60 steps a
    # phase): the stage must add at most 3 minutes to the demo on two cores; its numbers show the
    # protocol, they do not rank methods (`uscompare segment --preset cpu` or `paper` does).
    segmentation_synthetic: int = 16
    segmentation_n_real: tuple = (8,)
    segmentation_seeds: tuple = (0, 1)
    segmentation_overrides: dict = dataclasses.field(default_factory=lambda: dict(
        size=64, width=8, depth=3, res_units=1, batch_size=8, pretrain_steps=60, train_steps=60, max_synthetic=0))

    def as_dict(self) -> dict:
        """JSON-ready (tuples as lists), as demo.json records it."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


# DECISION (2026-12-04): measured with `python -m app.demo` on an idle 2-core AMD EPYC with empty
# caches, output to a log (bench/RESULTS.md, "`make demo`"), on a slow day of that machine: with
# real data 22.7 minutes (09:57 UTC, workload 0.347 s), without 26.8 minutes (10:41 UTC, workload
# 0.358 s). The 2026-12-02 references (17.5 minutes at 0.191 s, 15.3 at 0.238 s) predicted 32 and
# 23 minutes for those runs: the ovary's ussim row has since moved to the fast engine (simulator
# stage 180 -> 59 s), and the stages do not all scale with the workload (GANs 1.8 times, the
# segmentation stage 1.1 times). Scaled by this machine's workload seconds against those: a rough
# guide, the workload itself reading 0.17-0.26 s in fresh processes on one idle machine minutes apart.
# Both measured again on 2026-12-05 (the ovary table on the depth marks' scale, the full-sector
# ovary set), and now the references: with real data 18.0 minutes at a workload of 0.235 s (00:19
# UTC; the 2026-12-04 reference predicted 15: the ovary's PSF bank 94 s against 51 s), without 21.8
# minutes at 0.305 s (01:20 UTC; predicted 23). Without real data again after ussim.dataset measures
# the PSF bank before its workers start (image sets 230 -> 122 s): 19.9 minutes at 0.25 s (2026-12-05
# 02:57 UTC; predicted 18), now that reference.
DEMO = DemoConfig(expected_minutes={"real": 18.0, "simulated": 19.9},
                  workload_reference_seconds={"real": 0.235, "simulated": 0.25},
                  expected_measured={"real": "2026-12-05", "simulated": "2026-12-05"})

# The configuration of tests/compare/test_demo.py: every stage runs, on a handful of 64 px images
# with networks that train in a second; its numbers mean nothing.
TINY = DemoConfig(held_out={"ovary": 3, "ivus": 3}, simulated_train={"ovary": 8, "ivus": 8},
                  real_train_limit={"ovary": 8, "ivus": 8}, image_size=64, scatterers_per_cell=0.05,
                  iterations={model: 2 for model in ITERATIONS},
                  gan_overrides={"resolution": 64, "g_width": 8, "d_width": 8, "grid_samples": 2,
                                 "block_channels": [8, 16, 32], "sample_steps": 4, "grid_steps": 2},
                  study_cases={"ovary": 2, "ivus": 2}, study_practice=1,
                  segmentation_synthetic=4, segmentation_n_real=(2,),
                  segmentation_overrides=dict(size=32, width=4, depth=2, res_units=0, batch_size=2,
                                              pretrain_steps=2, train_steps=2, max_synthetic=0),
                  # the wiring is checked, not the intervals: 100 resamples (per-class FRD resampled
                  # 1000 times was half of the tiny run)
                  bootstrap=100)
