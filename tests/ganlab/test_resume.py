"""A killed run resumed from its saved state ends with the same weights as an uninterrupted one.

Every run is a subprocess `python -m ganlab train` on the CPU with deterministic algorithms and
one thread. PGSgan with short phases makes the resumed part cross phases and fade-ins.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ["--preset", "cpu-demo", "--deterministic", "--threads", "1", "--epochs", "6",
            "--set", "resolution=64", "--set", "g_width=8", "--set", "d_width=8", "--set", "g_blocks=1",
            "--set", "batch=2", "--set", "phase_epochs=[1,2,1]", "--set", "alpha_per_epoch=0.5",
            "--set", "grid_samples=2"]


def ganlab(*args, wait=True):
    command = [sys.executable, "-m", "ganlab", "train", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def final_state(run: Path) -> dict:
    return torch.load(run / "state.pt", map_location="cpu", weights_only=True)


def assert_same_training(resumed: Path, reference: Path):
    a, b = final_state(resumed), final_state(reference)
    assert (a["epoch"], a["total"]) == (b["epoch"], b["total"]) == (6, 24)
    for net in ("generator", "discriminator"):
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs"
    for opt in ("opt_generator", "opt_discriminator"):
        for index, slot in b[opt]["state"].items():
            for key, value in slot.items():
                assert torch.equal(a[opt]["state"][index][key], value), f"{opt} {index} {key} differs"
    stats = [[json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
             for run in (resumed, reference)]
    assert [s["epoch"] for s in stats[0]] == list(range(6))
    # an epoch without a sample grid (snap_epochs > 1) has no grid statistics
    for ours, theirs in zip(*stats):
        assert set(theirs) - set(ours) <= {"collapsed", "real_pixel_spread", "real_diversity_ms_ssim"} | {
            k for k in theirs if k.startswith(("diversity_", "pixel_"))}
        assert {k: v for k, v in ours.items() if k != "seconds"} == \
               {k: v for k, v in theirs.items() if k != "seconds" and k in ours}


@pytest.fixture(scope="module")
def reference(toy_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    ganlab("--model", "pgsgan", "--data", toy_file, "--runs", root, *SETTINGS)
    return root / "00000-pgsgan-toy"


def test_killed_run_resumes_to_the_same_weights(toy_file, tmp_path, reference):
    run = tmp_path / "00000-pgsgan-toy"
    victim = ganlab("--model", "pgsgan", "--data", toy_file, "--runs", tmp_path, *SETTINGS, wait=False)
    deadline = time.monotonic() + 240
    while not (run / "state.pt").exists():
        assert victim.poll() is None, victim.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.002)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    killed_at = final_state(run)["total"]
    assert killed_at < 24, "the run finished before the kill; nothing was tested"
    ganlab("--resume", run)
    assert "resume 00000-pgsgan-toy" in (run / "log.txt").read_text()
    assert_same_training(run, reference)


def test_run_stopped_mid_epoch_resumes_to_the_same_weights(toy_file, tmp_path, reference):
    """Stopped by max_iters inside epoch 3 with a grid every 4 epochs, resumed with grids every 5:
    the same training as the reference's (a grid every epoch); grids at the stop and the snaps."""
    ganlab("--model", "pgsgan", "--data", toy_file, "--runs", tmp_path, *SETTINGS, "--max-iters", "9",
           "--set", "snap_epochs=4")
    run = tmp_path / "00000-pgsgan-toy"
    state = final_state(run)
    assert (state["epoch"], state["iteration"]) == (2, 1)     # 4 iterations per epoch: stopped inside epoch 3
    assert sorted(p.name for p in run.glob("samples-*.png")) == ["samples-000002.png"]  # the unfinished epoch
    ganlab("--resume", run, "--set", "max_iters=null", "--set", "snap_epochs=5")
    assert sorted(p.name for p in run.glob("samples-*.png")) == ["samples-000002.png", "samples-000004.png",
                                                                 "samples-000005.png"]
    assert_same_training(run, reference)
